using Fabric.Cli.Output;

namespace Fabric.UnitTests.Cli;

/// <summary>Guest console lines reach the operator's terminal as text only.</summary>
public sealed class TerminalTextTests
{
    [Fact]
    public void Strip_DropsTheCursorPositionQueryOfTheBusyboxShell()
    {
        // busybox ash asks the terminal where the cursor is; an answering terminal would type into the guest's shell.
        Assert.Equal("/ # ", TerminalText.Strip("\u001b[6n/ # "));
        Assert.Equal("~ # ls", TerminalText.Strip("~ # \u001b[6nls"));

        // As the linux test guest's console log has it: the query right after the prompt, then a tick line.
        Assert.Equal("/ # tick 49 boot=ba328f7d", TerminalText.Strip("/ # \u001b[6ntick 49 boot=ba328f7d"));
    }

    [Theory]
    [InlineData("\u001b[1;31mred\u001b[0m plain", "red plain")]
    [InlineData("\u001b[38;2;255;0;0mtruecolour\u001b[m", "truecolour")]
    [InlineData("\u001b[2J\u001b[Hcleared", "cleared")]
    [InlineData("a\u001b[10;20Hb\u001b[Kc", "abc")]
    [InlineData("\u001b[?1049hscreen\u001b[?25l", "screen")]
    [InlineData("\u001b[>0cversion", "version")]
    [InlineData("\u001b[ qcursor", "cursor")]
    public void Strip_DropsCsiSequences(string line, string expected) =>
        Assert.Equal(expected, TerminalText.Strip(line));

    [Theory]
    [InlineData("\u001b]0;pwned\u0007after", "after")]
    [InlineData("\u001b]2;title\u001b\\after", "after")]
    [InlineData("\u001b]52;c;ZWNobyBldmls\u0007clipboard", "clipboard")]
    [InlineData("\u001b]8;;http://evil.example/\u001b\\click\u001b]8;;\u001b\\", "click")]
    [InlineData("before\u001b]0;an unterminated title", "before")]
    public void Strip_DropsOscStringsWithEitherTerminator(string line, string expected) =>
        Assert.Equal(expected, TerminalText.Strip(line));

    [Theory]
    [InlineData("\u001bP1$r0m\u001b\\ok", "ok")]
    [InlineData("\u001b_apc payload\u001b\\ok", "ok")]
    [InlineData("\u001b^pm payload\u001b\\ok", "ok")]
    [InlineData("\u001bXsos payload\u0007ok", "ok")]
    public void Strip_DropsOtherControlStrings(string line, string expected) =>
        Assert.Equal(expected, TerminalText.Strip(line));

    [Theory]
    [InlineData("\u001bcreset", "reset")]
    [InlineData("\u001b7saved\u001b8", "saved")]
    [InlineData("\u001b(Bascii", "ascii")]
    [InlineData("\u001b#8fill", "fill")]
    [InlineData("\u001b=keypad\u001b>", "keypad")]
    public void Strip_DropsShortEscapeSequences(string line, string expected) =>
        Assert.Equal(expected, TerminalText.Strip(line));

    [Theory]
    [InlineData("text\u001b", "text")]
    [InlineData("text\u001b[", "text")]
    [InlineData("text\u001b[12;", "text")]
    [InlineData("text\u001b(", "text")]
    [InlineData("\u001b", "")]
    public void Strip_DropsASequenceCutOffAtTheEndOfTheLine(string line, string expected) =>
        Assert.Equal(expected, TerminalText.Strip(line));

    [Theory]
    [InlineData("\u009b6n ok", " ok")]
    [InlineData("\u009b31mred\u009b0m", "red")]
    [InlineData("\u009d0;title\u009cok", "ok")]
    [InlineData("\u009d0;title\u0007ok", "ok")]
    [InlineData("\u0090dcs\u009cok", "ok")]
    [InlineData("a\u0085b\u008dc\u0080d\u009fan unterminated APC string", "abcd")]
    [InlineData("a\u0085b\u008dc\u0080d", "abcd")]
    public void Strip_DropsC1ControlsAndTheirSequences(string line, string expected) =>
        Assert.Equal(expected, TerminalText.Strip(line));

    [Fact]
    public void Strip_DropsC0ControlsButTabAndNewline()
    {
        Assert.Equal("abcdefg\th", TerminalText.Strip("a\rb\u0007c\bd\u0000e\u000ef\u007fg\th"));
        Assert.Equal("progress 10%progress 100%", TerminalText.Strip("progress 10%\r\u001b[Kprogress 100%"));
        Assert.Equal("line\n", TerminalText.Strip("line\r\n"));
    }

    [Fact]
    public void Strip_EndsAMalformedSequenceAtTheFirstByteThatDoesNotFitAndKeepsText()
    {
        Assert.Equal("x", TerminalText.Strip("\u001b[12;\u0007x"));
        Assert.Equal("ä", TerminalText.Strip("\u001b[12ä"));
        Assert.Equal("ok", TerminalText.Strip("\u001b\u001b[6nok"));
        Assert.Equal("é", TerminalText.Strip("\u001bé"));
    }

    [Theory]
    [InlineData("tick 5 boot=0a1b2c3d")]
    [InlineData("fabric-guest ready boot=8f959e46")]
    [InlineData("ünïcødé — 日本語テキスト, ελληνικά, עברית, 🚀🧪")]
    [InlineData("tabs\tstay\tput")]
    [InlineData("")]
    public void Strip_LeavesTextAloneAndReturnsTheSameString(string line) =>
        Assert.Same(line, TerminalText.Strip(line));

    [Fact]
    public void Strip_KeepsTextAroundSequencesIntact()
    {
        Assert.Equal("日本 🚀 ok", TerminalText.Strip("日本\u001b[0m 🚀\u009b1m ok"));
    }

    [Fact]
    public void Strip_NeverReturnsAControlCharacter_WhateverTheInput()
    {
        // Hostile alphabet: every introducer and terminator, parameter bytes, finals and some text.
        var alphabet = "\u001b\u001b\u001b[[]]P^_X\\\u0007\u009b\u009c\u009d\u0090\u0085\r\b\n\t\u007f0;?1m H c(Bé日🚀"
            .EnumerateRunes().Select(r => r.ToString()).ToArray();
        var random = new Random(20261129);
        for (var round = 0; round < 5000; round++)
        {
            var line = string.Concat(Enumerable.Range(0, random.Next(0, 40)).Select(_ => alphabet[random.Next(alphabet.Length)]));

            var stripped = TerminalText.Strip(line);

            Assert.DoesNotContain(stripped, c => c is < ' ' and not '\t' and not '\n' or >= '\u007f' and <= '\u009f');
            Assert.Equal(stripped, TerminalText.Strip(stripped));
        }
    }
}
