// Tests measure threads, fds and loop timing of the whole process: run them one class at a time.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
