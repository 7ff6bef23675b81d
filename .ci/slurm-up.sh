#!/usr/bin/env bash
# Placeholder: starts a one-node SLURM cluster on localhost (issue 5).
exit 1
