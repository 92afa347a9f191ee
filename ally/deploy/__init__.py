"""Running Ally as several processes: `python -m ally.deploy.local` starts the
scale-out topology (nginx, web processes, a scheduler and its standby) on this
machine; deploy/ holds the configuration files it renders."""
