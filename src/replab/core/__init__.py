"""What every replab system shares: configs, runs, data sources, distributed helpers, layers."""
