# Progress for long steps, shared by script/setup and script/pi-check (source it).
# The caller sets LOGS (a folder), VERBOSE (1: show each step's output too) and defines
# log(); `step NAME "what it does" COMMAND...` runs COMMAND with its output in
# $LOGS/NAME.log and, every HEARTBEAT_S seconds, says how long it has run and the log's
# last line, so nobody stares at a silent terminal. On failure it shows the log's end.
HEARTBEAT_S="${HEARTBEAT_S:-30}"

step() {
    local name="$1" what="$2"
    shift 2
    local out="$LOGS/$name.log" started=$SECONDS rc=0 pid next
    log "$what; its output: ${out#"$REPO/"}"
    if [ "$VERBOSE" = 1 ]; then
        "$@" 2>&1 | tee "$out" || rc=$?
    else
        "$@" > "$out" 2>&1 &
        pid=$!
        next=$(( started + HEARTBEAT_S ))
        while kill -0 "$pid" 2>/dev/null; do
            sleep 1
            if [ "$SECONDS" -ge "$next" ]; then
                log "  ... $(( (SECONDS - started) / 60 )) min $(( (SECONDS - started) % 60 )) s: $(doing "$out")"
                next=$(( next + HEARTBEAT_S ))
            fi
        done
        wait "$pid" || rc=$?
    fi
    if [ "$rc" -ne 0 ]; then
        echo "error: '$what' failed (exit $rc). The end of ${out#"$REPO/"}:" >&2
        tail -n 30 "$out" >&2
        exit "$rc"
    fi
    log "  done in $(( SECONDS - started )) s"
}

# What a step's log says it is doing now: its last line that is not a pip warning.
doing() {
    grep -v -e '^WARNING' -e '^ *$' "$1" 2>/dev/null | tail -n 1 | cut -c1-100 || true
}
