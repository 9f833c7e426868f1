// Tests count the process's descriptors and threads: run them one class at a time.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
