"""gitmodel's test suite, laid out like the package (issue 14).

    tests/conftest.py     repository-wide fixtures (isolated HOME, repo, gm, the S3 server)
    tests/support/        the one support package: plain helper functions, one name per meaning
    tests/<subpackage>/   the suites of gitmodel/<subpackage> (store, workspace, git, remote,
                          transfer, registry, metrics, maintenance, platform, cli), with the
                          folder's own fixtures in its conftest.py and its data beside it
    tests/safety/         cross-cutting suites: crash consistency, bad input, concurrency
    tests/api/, tests/bench/   the Python API (gitmodel/api.py) and the benchmark harness

Every folder is a package.  With pytest's default (prepend) import mode that
puts the repository root on sys.path once, names each module after its path
(tests.store.test_format), lets each folder have a conftest.py of its own
(rootless conftest files would all be the module `conftest`), and makes the
helpers importable from anywhere as `tests.support.<module>`.
tests/test_layout.py keeps the layout mirrored.
"""
