"""AgentSpend: the cost of coding agents, on the pull request they produced."""
