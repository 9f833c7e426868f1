// The leak gate counts /proc/self/fd for the whole process, so classes in this assembly must not run at once.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
