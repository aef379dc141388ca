from tracker.client import main

main()
