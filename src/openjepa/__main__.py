from openjepa.cli import main

main()
