// Every test checks the process-wide fd count, so tests must not run beside each other.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
