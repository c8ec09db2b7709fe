from tests.perf.race.cli import main

main()
