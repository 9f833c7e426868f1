using System.Threading.Channels;
using BenchmarkDotNet.Attributes;

namespace Kevents.Benchmarks;

/// <summary>
/// Cross-thread hand-off into one consumer: P producer threads post <see cref="ItemsPerInvoke"/> items in total, and
/// an invocation ends when the consumer has run the last of them. Kevents posts into a loop running on its own
/// thread (<see cref="EventLoop.RunAsync"/>); the baselines queue the same static callback and state to the thread
/// pool's global queue and to an unbounded channel drained by one dedicated thread. Times are per item.
/// </summary>
[MemoryDiagnoser]
public class PostBenchmarks
{
    /// <summary>Items per invocation, split evenly over the producers (a multiple of every producer count).</summary>
    private const int ItemsPerInvoke = 1 << 18;

    private static readonly Action<object?> s_onLoop = static state =>
    {
        // Runs on the loop thread only, so a plain decrement is enough.
        var sink = (Sink)state!;
        if (--sink.Remaining == 0)
        {
            sink.Done.Set();
        }
    };

    private static readonly Action<Sink> s_onPool = static sink =>
    {
        // Pool threads run items concurrently.
        if (Interlocked.Decrement(ref sink.Remaining) == 0)
        {
            sink.Done.Set();
        }
    };

    private EventLoop _loop = null!;
    private Task _loopTask = null!;
    private Channel<PostedItem> _channel = null!;
    private Thread _channelReader = null!;
    private ProducerGang _producers = null!;
    private readonly Sink _sink = new();
    private Action<int> _postToLoop = null!;
    private Action<int> _queueToPool = null!;
    private Action<int> _writeToChannel = null!;

    /// <summary>Threads posting at once.</summary>
    [Params(1, 2, 4)]
    public int Producers { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _loop = new EventLoop();
        _loopTask = _loop.RunAsync();

        _channel = Channel.CreateUnbounded<PostedItem>(new UnboundedChannelOptions { SingleReader = true });
        _channelReader = new Thread(DrainChannel) { IsBackground = true, Name = "channel-reader" };
        _channelReader.Start();

        int perProducer = ItemsPerInvoke / Producers;
        Sink sink = _sink;
        EventLoop loop = _loop;
        ChannelWriter<PostedItem> writer = _channel.Writer;
        // The producer bodies are built once here, so an invocation allocates nothing of its own.
        _postToLoop = _ =>
        {
            for (int i = 0; i < perProducer; i++)
            {
                loop.Post(s_onLoop, sink);
            }
        };
        _queueToPool = _ =>
        {
            for (int i = 0; i < perProducer; i++)
            {
                ThreadPool.UnsafeQueueUserWorkItem(s_onPool, sink, preferLocal: false);
            }
        };
        _writeToChannel = _ =>
        {
            for (int i = 0; i < perProducer; i++)
            {
                writer.TryWrite(new PostedItem(s_onLoop, sink));
            }
        };
        _producers = new ProducerGang(Producers);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _producers.Dispose();
        _loop.Dispose();
        _loopTask.GetAwaiter().GetResult();
        _channel.Writer.Complete();
        _channelReader.Join();
    }

    [Benchmark(OperationsPerInvoke = ItemsPerInvoke)]
    public void Kevents_Post() => RunOnce(_postToLoop);

    [Benchmark(Baseline = true, OperationsPerInvoke = ItemsPerInvoke)]
    public void ThreadPool_UnsafeQueueUserWorkItem() => RunOnce(_queueToPool);

    [Benchmark(OperationsPerInvoke = ItemsPerInvoke)]
    public void Channel_Unbounded_SingleReader() => RunOnce(_writeToChannel);

    private void RunOnce(Action<int> produce)
    {
        _sink.Remaining = ItemsPerInvoke;
        _sink.Done.Reset();
        _producers.Start(produce);
        _sink.Done.Wait();
    }

    private void DrainChannel()
    {
        ChannelReader<PostedItem> reader = _channel.Reader;
        while (true)
        {
            while (reader.TryRead(out PostedItem item))
            {
                item.Callback(item.State);
            }
            // Blocks only when the channel is empty; AsTask allocates then, not per item.
            ValueTask<bool> wait = reader.WaitToReadAsync();
            bool more = wait.IsCompleted ? wait.Result : wait.AsTask().GetAwaiter().GetResult();
            if (!more)
            {
                return;
            }
        }
    }

    private readonly record struct PostedItem(Action<object?> Callback, object? State);

    private sealed class Sink
    {
        public int Remaining;
        public readonly ManualResetEventSlim Done = new();
    }

    /// <summary>Long-lived producer threads, so thread start-up is neither timed nor counted as allocation.</summary>
    private sealed class ProducerGang : IDisposable
    {
        private readonly Thread[] _threads;
        private readonly SemaphoreSlim[] _go;
        private Action<int>? _work;
        private volatile bool _exit;

        public ProducerGang(int count)
        {
            _threads = new Thread[count];
            _go = new SemaphoreSlim[count];
            for (int i = 0; i < count; i++)
            {
                int index = i;
                _go[i] = new SemaphoreSlim(0);
                _threads[i] = new Thread(() => Produce(index)) { IsBackground = true, Name = $"producer-{i}" };
                _threads[i].Start();
            }
        }

        public void Start(Action<int> work)
        {
            // The semaphore release publishes _work to the producer it wakes.
            _work = work;
            foreach (SemaphoreSlim go in _go)
            {
                go.Release();
            }
        }

        private void Produce(int index)
        {
            while (true)
            {
                _go[index].Wait();
                if (_exit)
                {
                    return;
                }
                _work!(index);
            }
        }

        public void Dispose()
        {
            _exit = true;
            foreach (SemaphoreSlim go in _go)
            {
                go.Release();
            }
            foreach (Thread thread in _threads)
            {
                thread.Join();
            }
        }
    }
}
