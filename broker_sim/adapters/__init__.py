"""Broker adapters: each implements `broker_sim.Broker` for one venue (paper, and live venues later)."""
