package io.tandem.events;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;

/**
 * The recent events operators want on the status page and in {@code tandemctl}: role
 * changes, failovers with who asked, resyncs, reloads, drains. Bounded (the oldest go first);
 * each is also logged.
 */
public final class EventLog {
    private static final Logger LOG = LoggerFactory.getLogger(EventLog.class);
    public static final int CAPACITY = 500;

    /** What happened: {@code kind} is a short word (role, failover, sync, reload, drain). */
    public record Event(long seq, long atMillis, String kind, String message) {
    }

    private final Deque<Event> events = new ArrayDeque<>();
    private long seq;

    public synchronized void add(String kind, String message) {
        Event e = new Event(++seq, System.currentTimeMillis(), kind, message);
        events.addLast(e);
        if (events.size() > CAPACITY) {
            events.removeFirst();
        }
        LOG.info("event {}: {}", kind, message);
    }

    /** The newest {@code limit} events after {@code afterSeq}, oldest first. */
    public synchronized List<Event> since(long afterSeq, int limit) {
        List<Event> out = new ArrayList<>();
        for (Event e : events) {
            if (e.seq() > afterSeq) {
                out.add(e);
            }
        }
        return out.size() <= limit ? out : List.copyOf(out.subList(out.size() - limit, out.size()));
    }
}
