namespace Fabric.Grains.Persistence;

/// <summary>Write-before-act for grain state: the state in memory changes only once its new version is written.</summary>
internal static class StateWrites
{
    /// <summary>
    /// Writes <paramref name="next"/> and only then keeps it as the state; a write that fails leaves the previous
    /// state in memory and returns why. The store may or may not have taken it, so the caller reads the state again
    /// before its next write.
    /// </summary>
    public static async Task<Exception?> TryWriteAsync<T>(this IPersistentState<T> state, T next)
    {
        var previous = state.State;
        state.State = next;
        try
        {
            await state.WriteStateAsync();
            return null;
        }
        catch (Exception ex)
        {
            state.State = previous;
            return ex;
        }
    }
}
