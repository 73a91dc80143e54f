"""``python -m broker_sim`` runs the ``broker-sim`` command."""

from broker_sim.cli import main

main()
