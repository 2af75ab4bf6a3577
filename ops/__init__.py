"""Operating the product on one machine: training when needed, starting and stopping the services."""
