using System.Globalization;
using System.Text;
using Kevents.Native;
using Microsoft.Extensions.Logging;

namespace Kevents.Internal;

/// <summary>
/// The logger a loop uses when <see cref="EventLoopOptions.LoggerFactory"/> is not set: warnings and errors go to
/// standard error, one line each (plus the exception), and everything below Warning is dropped before it is
/// formatted. A process that configured no logging still hears of a handler that threw; one that wants silence
/// passes <c>NullLoggerFactory.Instance</c>.
/// </summary>
internal sealed class StderrLoggerFactory : ILoggerFactory
{
    public static readonly StderrLoggerFactory Instance = new();

    private StderrLoggerFactory()
    {
    }

    public ILogger CreateLogger(string categoryName) => new StderrLogger(categoryName);

    public void AddProvider(ILoggerProvider provider) =>
        throw new NotSupportedException("The built-in standard-error logger takes no providers; set EventLoopOptions.LoggerFactory to a factory of your own instead.");

    public void Dispose()
    {
    }

    private sealed class StderrLogger(string category) : ILogger
    {
        private const int StandardError = 2;

        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Warning && logLevel != LogLevel.None;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (!IsEnabled(logLevel))
            {
                return;
            }
            var line = new StringBuilder(160);
            line.Append(DateTime.UtcNow.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture))
                .Append(' ').Append(LevelName(logLevel))
                .Append(' ').Append(category)
                .Append('[').Append(eventId.Id);
            if (!string.IsNullOrEmpty(eventId.Name))
            {
                line.Append(' ').Append(eventId.Name);
            }
            line.Append("] ").Append(formatter(state, exception)).Append('\n');
            if (exception is not null)
            {
                line.Append(exception).Append('\n');
            }
            WriteToStandardError(line.ToString());
        }

        /// <summary>
        /// Writes straight to descriptor 2 rather than through Console.Error: the console opens a descriptor of its
        /// own (a dup of 2) on first use and keeps it for the life of the process, which a process that never asked
        /// for console output should not pay for. One write per entry keeps lines from several loops apart.
        /// </summary>
        private static void WriteToStandardError(string text)
        {
            byte[] bytes = Encoding.UTF8.GetBytes(text);
            ReadOnlySpan<byte> rest = bytes;
            while (!rest.IsEmpty)
            {
                long written = Io.Write(StandardError, rest);
                if (written <= 0)
                {
                    // Closed, full (non-blocking) or gone: logging must never hold up or break the loop.
                    return;
                }
                rest = rest[(int)written..];
            }
        }

        private static string LevelName(LogLevel level) => level switch
        {
            LogLevel.Warning => "warn",
            LogLevel.Error => "fail",
            LogLevel.Critical => "crit",
            _ => level.ToString(),
        };
    }
}
