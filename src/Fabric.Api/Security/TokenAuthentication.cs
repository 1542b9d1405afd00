using System.Security.Claims;
using System.Text.Encodings.Web;
using Fabric.Contracts;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Fabric.Api.Security;

/// <summary>
/// Bearer tokens (<c>fabric_&lt;id&gt;_&lt;secret&gt;</c>): the secret is hashed here and only its id and hash go to the
/// token directory, which answers with the token while it is valid. No cache: a revoked token fails at once.
/// </summary>
public sealed class TokenAuthenticationHandler(
    IOptionsMonitor<AuthenticationSchemeOptions> options,
    ILoggerFactory logger,
    UrlEncoder encoder,
    IGrainFactory grains)
    : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    public const string SchemeName = "FabricToken";

    private const string CallerKey = "fabric.caller";

    /// <summary>The caller a successful authentication left on the request.</summary>
    public static Caller CallerOf(HttpContext context) =>
        TryCallerOf(context) ?? throw new FabricException(ErrorCodes.Unauthenticated, "no credentials");

    public static Caller? TryCallerOf(HttpContext context) => context?.Items[CallerKey] as Caller;

    /// <summary>Leaves the authenticated caller on the request (tokens here, client certificates in <see cref="ClientCertificates"/>).</summary>
    internal static void SetCaller(HttpContext context, Caller caller) => context.Items[CallerKey] = caller;

    protected override async Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        string header = Request.Headers.Authorization.ToString();
        if (header.Length == 0)
        {
            return AuthenticateResult.NoResult();
        }

        if (!header.StartsWith("Bearer ", StringComparison.Ordinal) || !ApiTokens.TryParse(header["Bearer ".Length..].Trim(), out var id, out var secret))
        {
            return AuthenticateResult.Fail("the Authorization header is not 'Bearer fabric_<id>_<secret>'");
        }

        var token = await grains.GetGrain<ITokenDirectoryGrain>(0).Verify(id, ApiTokens.Sha256Hex(secret));
        if (token is null)
        {
            return AuthenticateResult.Fail($"token {id} is unknown, revoked or expired");
        }

        SetCaller(Context, new Caller(token));
        var identity = new ClaimsIdentity(
            [new Claim(ClaimTypes.Name, token.User), new Claim(ClaimTypes.Role, Roles.Format(token.Role)), new Claim("fabric:token", token.Id)],
            SchemeName);
        return AuthenticateResult.Success(new AuthenticationTicket(new ClaimsPrincipal(identity), SchemeName));
    }

    protected override Task HandleChallengeAsync(AuthenticationProperties properties)
    {
        var failure = Context.Features.Get<IAuthenticateResultFeature>()?.AuthenticateResult?.Failure?.Message;
        return Problems.WriteAsync(Context, new FabricException(ErrorCodes.Unauthenticated, failure ?? "this request needs 'Authorization: Bearer <token>'"));
    }

    protected override Task HandleForbiddenAsync(AuthenticationProperties properties) =>
        Problems.WriteAsync(Context, FabricException.Forbidden("the caller may not do this"));
}
