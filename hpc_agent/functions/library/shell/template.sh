#!/bin/bash
# FlowCron built-in function "shell": one command line, run by bash in data/.
# Every value above is a quoted shell assignment; the command line arrives in
# "$command" as one string and is handed to a new bash as its command string.
set -euo pipefail

cd data
echo "flowcron shell: running in $PWD"
# '--' ends bash's options, so a command line starting with '-' is still a command.
bash -e -o pipefail -c -- "$command" flowcron-shell
