"""Tools for developers: the demo and the benchmark (their tests are in tests/)."""
