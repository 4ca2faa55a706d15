"""One module per command: a plain function that calls the library, prints
the result for people (or JSON), and returns the exit code."""
