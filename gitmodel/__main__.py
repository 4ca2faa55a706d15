from gitmodel.cli import run

run()
