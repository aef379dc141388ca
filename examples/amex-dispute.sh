#!/usr/bin/env bash
# The guide's story, end to end, with the real CLI on a throwaway store.
#
# The guide (shared/seed/000_59c8d439e69e2c93.txt, "How to communicate with American Express
# customer service") tells its reader what to do by hand: know the numbers, gather the
# details, take notes of names and reference numbers, set reminders, escalate, write. Here
# `tracker` carries all of it: a card lost abroad, then a disputed charge that is not
# credited when promised, escalated to a supervisor and put in writing.
#
# Usage:  bash examples/amex-dispute.sh
# Uses the executable named by $TRACKER, else `tracker` from PATH, else this checkout's
# .venv/bin/tracker. Nothing touches your own store: TRACKER_HOME is a temporary folder,
# removed at exit. To play it on a shared PostgreSQL store instead, name an empty database:
#   TRACKER_EXAMPLE_DB=postgresql+psycopg://me@db.example/tracker_demo bash examples/amex-dispute.sh
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if [[ -z ${TRACKER:-} ]]; then
    if command -v tracker >/dev/null; then
        TRACKER=tracker
    elif [[ -x $ROOT/.venv/bin/tracker ]]; then # a checkout's venv, not activated
        TRACKER=$ROOT/.venv/bin/tracker
    else
        echo "Error: no tracker command: install it (pip install -e .) or set TRACKER" >&2
        exit 127
    fi
fi
if [[ $TRACKER == */* ]]; then # a relative path must survive the cd below
    TRACKER=$(cd "$(dirname "$TRACKER")" && pwd)/$(basename "$TRACKER")
fi
TRACKER_HOME=$(mktemp -d "${TMPDIR:-/tmp}/tracker-example.XXXXXX")
export TRACKER_HOME
# The store: a SQLite file in the temporary folder, or the (empty) database named.
if [[ -n ${TRACKER_EXAMPLE_DB:-} ]]; then
    export TRACKER_DB=$TRACKER_EXAMPLE_DB
else
    unset TRACKER_DB
fi
trap 'rm -rf "$TRACKER_HOME"' EXIT
# From the checkout's root, so that the commands read as the README writes them.
cd "$ROOT"

section() {
    printf '\n=== %s\n' "$1"
    shift
    local line
    for line in "$@"; do printf '    %s\n' "$line"; done
}

# Show the command as the user would type it, then run it.
run() {
    local shown="" arg
    for arg in "$@"; do
        if [[ $arg =~ ^[A-Za-z0-9_./:@=+,-]+$ ]]; then shown+=" $arg"; else shown+=" \"$arg\""; fi
    done
    printf '\n$ tracker%s\n' "$shown"
    "$TRACKER" "$@"
}

# The day the disputed charge was made: 20 days ago (GNU date, else BSD date).
TXN_DATE=$(date -d '20 days ago' +%F 2>/dev/null || date -v-20d +%F)

section "1. Know who to call (guide, step 2)" \
    "The guide's numbers, chat, mailing address and more, plus the regulator, go into" \
    "the directory once. Re-importing the file updates it; it never duplicates."
run org import examples/directory/american-express.toml
run org show "American Express"

section "2. A card lost in Lisbon (guide 2.1.1: lost or stolen, 24/7)" \
    "Opening the case prints the line to call, from the U.S. or from abroad."
run case open "Card lost in Lisbon" --org "American Express" --category lost_stolen --account 1005
run case contact 1 --channel phone --via "+1 623-492-5450" --agent "Ana" --duration 12m \
    --ref LS-20417 --summary "Card cancelled; replacement card sent to the hotel" \
    --promise "Replacement card delivered to the hotel" --due "in 2 days"
run promise kept 1
run case resolve 1 --outcome "Replacement card received"

section "3. A charge you do not recognise (guide 1.2: gather the details)" \
    "The case keeps the last 4 digits (never more) and the transaction: date, merchant, amount." \
    "It was opened 13 days ago: --at dates it, so its clocks count from then."
run case open "Disputed charge at ACME Hardware" --org "American Express" --category dispute \
    --account 1005 --amount 129.99 --currency USD --merchant "ACME Hardware" --txn-date "$TXN_DATE" \
    --at "13 days ago"

section "4. The call (guide 3.3: take notes)" \
    "Twelve days ago: the agent's name, the reference number and what was promised, in one go." \
    "The credit was promised within 10 days, so that promise fell due 2 days ago."
run case contact 2 --channel phone --at "12 days ago" --via 1-800-528-2122 --agent "Maria" \
    --agent-id 4471 --duration 23m --ref CALL-88812 \
    --summary "Dispute opened; charge under review" \
    --promise "Provisional credit of 129.99 USD posts to the account" --due "2 days ago"

section "5. Follow up (guide 3.4: check back if you hear nothing)" \
    "A chat five days ago, read from its transcript: the agent after the bot, the reference," \
    "what was promised; the transcript is kept, its card number masked. Then a reminder."
CHAT_AT="$(date -d '5 days ago' +%F 2>/dev/null || date -v-5d +%F) 14:02" # its times have no date
run case contact 2 --channel chat --transcript examples/chat-transcript.txt --at "$CHAT_AT" --yes
run case follow-up 2 "tomorrow 9am" "Check the statement for the credit"

section "6. Keep the evidence (guide 2.2, 2.3: a written record, supporting documents)" \
    "The statement that shows the charge, and the email that promised the credit: card" \
    "numbers in them are masked before they are stored (the email part by part)."
printf '%s\n' "# Statement, American Express" "" "Card number 3782 822463 10005" \
    "$TXN_DATE  ACME Hardware  129.99 USD" >"$TRACKER_HOME/statement.md"
# The email's Date is set to 3 days ago, so that the story's clocks hold whenever it runs.
EMAIL_DATE=$(date -R -d '3 days ago' 2>/dev/null || date -R -v-3d)
sed "s/^Date: .*/Date: $EMAIL_DATE/" examples/refund-promise.eml >"$TRACKER_HOME/refund-promise.eml"
(
    cd "$TRACKER_HOME"
    run case attach 2 statement.md --kind statement --note "November statement"
    run import email refund-promise.eml
)
run case attachment list 2

section "7. What is due" \
    "The promised credit is overdue; tomorrow's follow-up is coming."
run due

section "8. The promise was broken" \
    "Its due time passed and the credit never came."
run promise broken 2

section "9. Escalate (guide 3.5: ask for a supervisor)" \
    "The case moves up a rung; the tool says how to reach it and what to quote."
run case escalate 2 --to supervisor --note "Credit promised for 10 days ago never posted"

section "10. Put it in writing (guide 2.3: mail for a legally verifiable record)" \
    "A billing-error notice built from the case history, addressed to the mailing address," \
    "signed with your name and address from the config file. Posted by certified mail, it is" \
    "recorded as sent: the letter kept as evidence, the tracking number as a reference, and" \
    "the Fair Credit Billing Act's clocks (resolution within 90 days) counted from that day."
run config set name "Ada Lovelace"
run config set address "1 Main St" "Springfield, IL 62701"
(
    cd "$TRACKER_HOME" # the letter is written beside the temporary store
    run case letter 2 --kind billing-error -o letter.md
    cat letter.md
)
run case letter 2 --kind billing-error --sent --via mail --tracking 9407111899223197428490

section "11. The paper trail (a written record)" \
    "Every event of every case, as CSV for a spreadsheet."
if "$TRACKER" export --help >/dev/null 2>&1; then
    run export csv
else
    echo "(this version of tracker has no 'export csv' yet)"
fi

section "12. The whole case" \
    "Facts, promises, interactions, evidence and the timeline."
run case show 2

section "13. The case file (for a regulator, an ombudsman or a lawyer)" \
    "One self-contained page, and a zip with the evidence and a manifest of SHA-256 hashes."
(
    cd "$TRACKER_HOME" # written beside the temporary store
    run case file 2 -o case-2.html --bundle case-2.zip
    mkdir bundle && cd bundle
    python3 -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall()' ../case-2.zip
    if command -v sha256sum >/dev/null; then
        printf '\n$ sha256sum -c SHA256SUMS\n'
        sha256sum -c SHA256SUMS
    fi
)

if [[ -n ${TRACKER_EXAMPLE_DB:-} ]]; then
    printf '\n=== Done. The temporary folder %s is removed now; the story stays in the database.\n' \
        "$TRACKER_HOME"
else
    printf '\n=== Done. The temporary store %s is removed now.\n' "$TRACKER_HOME"
fi
