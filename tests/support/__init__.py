"""The test suite's one support package: helpers shared by the suites under
tests/, one name per meaning (no tests here; fixtures live in conftest.py
files).  Import from the module that defines a helper:

    cli     running the CLI (in-process, subprocess), Result, GM, assert_one_line_error
    git     git commands, make_repo, clone, gm_add, commit_with_hooks / commit_without_hooks,
            hooks, set_link (the committed link mode)
    files   write / write_at / write_files / read, write_random_files, read_only folders
    store   object stores read from their documented layout: objects, packs, oids, ages;
            pointer_fields / pointer_oid, write_with_oid
    state   tree_state, file_contents, repo_state + assert_unchanged (a command changed nothing),
            mtime_state (a command did not even rewrite a file)
    remote  repositories with pushed data, push_json, Store (a remote's objects, read and damaged directly)
    metrics repositories with several model versions (build_history, build_many_versions)

tests/test_layout.py checks that no public name is defined in two of them.
"""
