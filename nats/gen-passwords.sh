#!/usr/bin/env bash
# Prints one random password per AURA bus role as .env lines for docker-compose.yml:
#   nats/gen-passwords.sh >> .env
# The NATS server and each role's containers read them from there; nothing is written elsewhere.
# nats-server parses an environment value as a configuration token, so each password is a letter
# followed by hex: nothing it could read as a number, a quote or a list.
set -euo pipefail
for role in GATEWAY MARKET_DATA STRATEGY_RUNNER BACKTEST OPERATOR OBSERVER; do
  echo "NATS_${role}_PASSWORD=p$(openssl rand -hex 24)"
done
