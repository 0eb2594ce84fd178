raise ImportError("switchyard-broken needs libfrobnicate, which is not installed")
