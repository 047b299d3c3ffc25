package io.tandem.statesync;

import org.jctools.queues.MessagePassingQueue;
import org.jctools.queues.atomic.MpscAtomicArrayQueue;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;
import java.util.function.LongSupplier;
import java.util.function.Predicate;

/**
 * What every replicator does whatever carries its bytes: a bounded lock-free queue the data
 * plane offers changes to; one sync thread that drains it once per batch window, coalesces repeated
 * changes of a flow (the newest version wins), sends batches of at most
 * {@link SyncCodec#MAX_BATCH} records and the table digest every {@code digestInterval};
 * and the receiving side: apply records, measure lag, compare digests, and — on the
 * replica — ask the source for the ranges that differ, dropping local flows the source's
 * range snapshot does not contain. Each side also announces itself (an opaque payload from
 * the layer above: role, health) on change and every {@link #ANNOUNCE_INTERVAL_MILLIS}.
 */
final class SyncEngine implements AutoCloseable {
    /** Carries bytes to the peer. */
    interface Transport {
        void send(byte[] message) throws Exception;

        boolean peerConnected();

        String peer();
    }

    private record Pending(FlowRecord record, long enqueuedAtMillis, boolean created) {
    }

    /** The range resync a replica asked for and waits to be answered. */
    private static final class RangeRequest {
        final long id;
        final Set<Integer> ranges;
        final long askedAtMillis;
        boolean begun;
        long received;
        /** What the refresh found: flows missing here, and flows here with another mapping (the source's replaced them). */
        long inserted;
        long replaced;

        RangeRequest(long id, Set<Integer> ranges, long askedAtMillis) {
            this.id = id;
            this.ranges = ranges;
            this.askedAtMillis = askedAtMillis;
        }
    }

    /** A flow's newest change in the batch; {@code bornInBatch}: the peer has not heard of it yet. */
    private record Held(FlowRecord record, boolean bornInBatch) {
    }

    /**
     * How long a batch gathers changes after its first: long enough that a short connection's
     * whole life (created, established, closed, removed) falls in one batch and is never sent
     * — the peer needs no record of a flow that no longer exists — short enough to keep
     * replication lag a few milliseconds.
     */
    static final long BATCH_WINDOW_NANOS = TimeUnit.MILLISECONDS.toNanos(5);
    /** The most changes a batch gathers (and a wake-up drains) before it leaves early. */
    private static final int MAX_GATHERED = SyncCodec.MAX_BATCH * 8;

    private static final Logger LOG = LoggerFactory.getLogger(SyncEngine.class);
    static final long ANNOUNCE_INTERVAL_MILLIS = 500;

    private final Transport transport;
    private final LongSupplier clock;
    private final FlowStore store;
    /** Lock-free for the event loops that offer (many producers), drained by the sync thread alone. */
    private final MpscAtomicArrayQueue<Pending> queue;
    private final long digestIntervalMillis;
    private final Thread thread;
    private volatile boolean running = true;
    private volatile boolean source;
    /** The sync thread sleeps until the first change offered wakes it, or its next periodic send. */
    private volatile boolean idle;

    private final AtomicLong recordsSent = new AtomicLong();
    private final AtomicLong recordsReceived = new AtomicLong();
    private final AtomicLong overflows = new AtomicLong();
    private final AtomicLong decodeErrors = new AtomicLong();
    private final AtomicLong rangeResyncs = new AtomicLong();
    private final AtomicLong elided = new AtomicLong();
    private volatile long lastLagMillis;
    private volatile Boolean digestsEqual;
    private volatile SyncStatus.FullResync lastFullResync;
    private volatile byte[] announcement;
    private volatile boolean announceNow;
    private volatile PeerAnnouncement peerAnnouncement;

    // Replica side of a range resync: the request it waits for, the ranges being refreshed and
    // the keys seen since they began. Only an answer to that request counts (issue 20): a stray,
    // late or replayed RangeBegin/RangeEnd, or one that arrives after this side became the
    // source, is ignored and counted.
    private final Object rangeLock = new Object();
    private RangeRequest waitingFor;
    private Set<Integer> refreshing = Set.of();
    private final Set<FlowRecord.Key> seenDuringRefresh = new HashSet<>();
    private long nextRequestId = 1;
    /** Role changes seen: a walk begun in one epoch stops when it ends; requests carry it. */
    private final AtomicLong roleEpoch = new AtomicLong();
    private final AtomicLong rangeMessagesIgnored = new AtomicLong();
    private final AtomicLong merges = new AtomicLong();
    /** The largest (peer's send time − this box's receive time) seen: a lower bound of how far the peer's clock is ahead. */
    private final AtomicLong peerAhead = new AtomicLong(Long.MIN_VALUE);
    private static final long MAX_CLOCK_AHEAD_MILLIS = 3_600_000;
    // Source side: requests are served one at a time, at most one per half digest interval, on
    // a thread of their own (never on the transport's delivery thread); others are dropped and
    // counted — the replica asks again at its next digest.
    private final ExecutorService resyncServer;
    private final AtomicBoolean serving = new AtomicBoolean();
    private volatile long lastServedMillis;
    private long lastResyncRequestMillis;
    /** The ranges that differed at the last comparison; null before the first since the peer (re)joined. */
    private volatile Set<Integer> previouslyDiffering;

    SyncEngine(Transport transport, FlowStore store, int queueCapacity, Duration digestInterval, String name) {
        this(transport, store, queueCapacity, digestInterval, name, System::currentTimeMillis);
    }

    /** @param clock this box's wall clock in milliseconds (tests give two engines skewed clocks) */
    SyncEngine(Transport transport, FlowStore store, int queueCapacity, Duration digestInterval, String name, LongSupplier clock) {
        this.clock = clock;
        this.transport = transport;
        this.store = store;
        this.queue = new MpscAtomicArrayQueue<>(queueCapacity);
        this.digestIntervalMillis = digestInterval.toMillis();
        this.thread = Thread.ofPlatform().name("tandem-sync-" + name).daemon().unstarted(this::run);
        this.resyncServer = Executors.newSingleThreadExecutor(
                Thread.ofPlatform().name("tandem-sync-resync-" + name).daemon().factory());
    }

    void start() {
        thread.start();
    }

    /**
     * Whether this side is the source of truth (the active): only a replica asks for resyncs.
     * A change of role starts a new epoch: the request a replica waited for is forgotten (its
     * answer would now remove the new source's own flows), and a walk the old source is serving
     * stops without its RangeEnd.
     */
    void setSource(boolean source) {
        if (this.source != source) {
            synchronized (rangeLock) {
                roleEpoch.incrementAndGet();
                waitingFor = null;
                refreshing = Set.of();
                seenDuringRefresh.clear();
            }
        }
        this.source = source;
    }

    boolean publish(FlowRecord record, boolean created) {
        if (queue.offer(new Pending(record, clock.getAsLong(), created))) {
            // Only the first change after a quiet spell wakes the thread: the rest of the batch
            // waits for the end of its window, without a futex call per change.
            wake();
            return true;
        }
        overflows.incrementAndGet();
        return false;
    }

    private void run() {
        Map<FlowRecord.Key, Held> batch = new LinkedHashMap<>();
        List<Pending> drained = new ArrayList<>(MAX_GATHERED);
        MessagePassingQueue.Consumer<Pending> drainInto = drained::add;
        long batchOpenedNanos = 0;
        long oldest = 0;
        long nextDigest = clock.getAsLong() + digestIntervalMillis;
        long nextAnnounce = 0;
        while (running) {
            try {
                // Never waiting on the queue: an offer from the data plane wakes the thread only
                // when it sleeps with nothing gathered (the first change of a batch); the rest
                // of the batch's changes wake nobody (no futex call per change). The batch is
                // drained and sent once, when its first change is a window old.
                if (batch.isEmpty()) {
                    long due = announcement == null ? nextDigest : Math.min(nextDigest, nextAnnounce);
                    sleepUntilOffered(due - clock.getAsLong());
                } else {
                    long left = batchOpenedNanos + BATCH_WINDOW_NANOS - System.nanoTime();
                    if (left > 0) {
                        LockSupport.parkNanos(left);
                    }
                }
                drained.clear();
                queue.drain(drainInto, MAX_GATHERED);
                for (Pending p : drained) {
                    if (batch.isEmpty()) {
                        batchOpenedNanos = System.nanoTime();
                        oldest = p.enqueuedAtMillis();
                    }
                    coalesce(batch, p);
                }
                if (!batch.isEmpty() && (System.nanoTime() - batchOpenedNanos >= BATCH_WINDOW_NANOS
                        || batch.size() >= MAX_GATHERED)) {
                    List<FlowRecord> records = new ArrayList<>(batch.size());
                    batch.values().forEach(h -> records.add(h.record()));
                    batch.clear();
                    sendRecords(oldest, records);
                }
                long now = clock.getAsLong();
                if (now >= nextDigest) {
                    nextDigest = now + digestIntervalMillis;
                    if (transport.peerConnected()) {
                        transport.send(SyncCodec.encodeDigest(now, store.digest().snapshot()));
                    }
                }
                byte[] ours = announcement;
                if (ours != null && (announceNow || now >= nextAnnounce) && transport.peerConnected()) {
                    announceNow = false;
                    nextAnnounce = now + ANNOUNCE_INTERVAL_MILLIS;
                    transport.send(SyncCodec.encodeAnnouncement(now, ours));
                }
            } catch (Exception e) {
                if (running) {
                    LOG.warn("sync send failed: {}", e.toString());
                }
            }
        }
    }

    /**
     * With nothing gathered, the thread sleeps until a change is offered or a periodic send
     * (digest, announcement) is due: a replica, which is offered nothing, then wakes a few
     * times a second. The flag is set before the queue is looked at, and
     * an offer enqueues before it reads the flag, so a change is never left waiting for the
     * periodic wake-up: either this thread sees it, or the offer sees the flag and unparks.
     */
    private void sleepUntilOffered(long millis) {
        idle = true;
        if (queue.isEmpty() && running) {
            LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(Math.clamp(millis, 1, ANNOUNCE_INTERVAL_MILLIS)));
        }
        idle = false;
    }

    private void wake() {
        if (idle) {
            idle = false;
            LockSupport.unpark(thread);
        }
    }

    /** The newest change of each flow wins; a flow born and gone within the batch is dropped from it. */
    private void coalesce(Map<FlowRecord.Key, Held> batch, Pending pending) {
        FlowRecord record = pending.record();
        FlowRecord.Key key = record.key();
        Held held = batch.get(key);
        if (held == null) {
            batch.put(key, new Held(record, pending.created()));
        } else if (record.version() >= held.record().version()) {
            if (record.removed() && held.bornInBatch()) {
                batch.remove(key);
                elided.incrementAndGet();
            } else {
                batch.put(key, new Held(record, held.bornInBatch() || pending.created()));
            }
        }
    }

    private void sendRecords(long changedAtMillis, List<FlowRecord> records) throws Exception {
        if (!transport.peerConnected()) {
            return; // the peer gets the whole table when it joins
        }
        for (int from = 0; from < records.size(); from += SyncCodec.MAX_BATCH) {
            List<FlowRecord> chunk = records.subList(from, Math.min(records.size(), from + SyncCodec.MAX_BATCH));
            transport.send(SyncCodec.encodeRecords(changedAtMillis, chunk));
            recordsSent.addAndGet(chunk.size());
        }
    }

    /** Handles one message from the peer (on the transport's thread). */
    void receive(byte[] bytes, int offset, int length) {
        SyncMessage message;
        try {
            message = SyncCodec.decode(bytes, offset, length);
        } catch (SyncDecodeException e) {
            decodeErrors.incrementAndGet();
            LOG.warn("sync message rejected: {}", e.getMessage());
            return;
        }
        long now = clock.getAsLong();
        long ahead = message.sentAtMillis() - now;
        if (ahead <= MAX_CLOCK_AHEAD_MILLIS) {
            peerAhead.accumulateAndGet(ahead, Math::max);
        }
        switch (message) {
            case SyncMessage.Records r -> {
                for (FlowRecord record : r.records()) {
                    FlowStore.Applied applied = store.apply(record);
                    if (noteSeen(record, applied) && applied == FlowStore.Applied.OLDER_THAN_OTHER_MAPPING) {
                        // Refreshing this range: the source's mapping is the truth. Kept, the newer
                        // copy here would differ in every digest and be asked for forever.
                        store.replace(record);
                    }
                }
                recordsReceived.addAndGet(r.records().size());
                lastLagMillis = Math.max(0, now - r.sentAtMillis());
            }
            case SyncMessage.Digest d -> compareDigest(d.ranges(), now);
            case SyncMessage.ResyncRequest q -> serveLater(q, now);
            case SyncMessage.RangeBegin b -> beginRangeRefresh(b);
            case SyncMessage.RangeEnd e -> endRangeRefresh(e);
            case SyncMessage.Announcement a -> peerAnnouncement = new PeerAnnouncement(a.payload(), now);
        }
    }

    /** Whether the record falls in a range being refreshed (a replica's answered request): then it is noted as seen. */
    private boolean noteSeen(FlowRecord record, FlowStore.Applied applied) {
        synchronized (rangeLock) {
            if (!refreshing.isEmpty() && refreshing.contains(record.range())) {
                seenDuringRefresh.add(record.key());
                if (waitingFor != null) {
                    waitingFor.received++;
                    if (applied == FlowStore.Applied.INSERTED) {
                        waitingFor.inserted++;
                    } else if (applied == FlowStore.Applied.OLDER_THAN_OTHER_MAPPING) {
                        waitingFor.replaced++;
                    }
                }
                return true;
            }
            return false;
        }
    }

    private void ignoreRangeMessage(String what) {
        rangeMessagesIgnored.incrementAndGet();
        LOG.warn("sync: ignored {}", what);
    }

    /** The source: a request is served on the resync thread, one at a time and not too often; others are dropped. */
    private void serveLater(SyncMessage.ResyncRequest q, long now) {
        if (!source) {
            ignoreRangeMessage("a resync request while not the source (request " + q.requestId() + ")");
            return;
        }
        if (now - lastServedMillis < digestIntervalMillis / 2 || !serving.compareAndSet(false, true)) {
            ignoreRangeMessage("resync request " + q.requestId() + ": one is being served or was just served (the peer asks again)");
            return;
        }
        lastServedMillis = now;
        long epoch = roleEpoch.get();
        try {
            resyncServer.execute(() -> {
                try {
                    sendRanges(q, epoch);
                } finally {
                    serving.set(false);
                }
            });
        } catch (RejectedExecutionException closed) {
            serving.set(false);
        }
    }

    /** A range resync is being served (for tests). */
    boolean servingResync() {
        return serving.get();
    }

    private void beginRangeRefresh(SyncMessage.RangeBegin b) {
        synchronized (rangeLock) {
            if (source || waitingFor == null || waitingFor.id != b.requestId() || waitingFor.begun) {
                ignoreRangeMessage("a range begin that answers no request of ours (request " + b.requestId() + ")");
                return;
            }
            waitingFor.begun = true;
            refreshing = new HashSet<>(b.ranges());
            seenDuringRefresh.clear();
        }
    }

    private void endRangeRefresh(SyncMessage.RangeEnd e) {
        RangeRequest answered;
        synchronized (rangeLock) {
            answered = waitingFor;
            if (source || answered == null || answered.id != e.requestId() || !answered.begun) {
                ignoreRangeMessage("a range end that answers no request of ours (request " + e.requestId() + ")");
                return;
            }
            waitingFor = null;
            if (answered.received < e.records()) {
                refreshing = Set.of();
                seenDuringRefresh.clear();
                ignoreRangeMessage("range end " + e.requestId() + ": " + e.records() + " records sent, " + answered.received
                        + " arrived (nothing dropped; asked again at the next digest)");
                return;
            }
        }
        finishRangeRefresh(e.ranges(), answered);
    }

    /**
     * Changes in flight (created or ended on the active, not yet applied here) make a range
     * differ for a moment, all the time under load. A real divergence persists: so a range
     * counts as differing, and is asked for, only when it differed in two comparisons in a
     * row (the first comparison after the peer (re)joined counts as it is). Only a replica
     * asks, and not more often than one digest interval. (Found by the soak: with every
     * momentary difference counted, a failover was refused now and then for "tables differ"
     * and range resyncs never stopped.)
     */
    private void compareDigest(long[] theirs, long now) {
        List<Integer> differingNow = FlowDigest.differing(store.digest().snapshot(), theirs);
        Set<Integer> before = previouslyDiffering;
        previouslyDiffering = new HashSet<>(differingNow);
        List<Integer> differing = before == null ? differingNow : differingNow.stream().filter(before::contains).toList();
        digestsEqual = differing.isEmpty();
        if (before != null && !differing.isEmpty() && !source && now - lastResyncRequestMillis >= digestIntervalMillis) {
            long id;
            long epoch;
            synchronized (rangeLock) {
                if (waitingFor != null && now - waitingFor.askedAtMillis < 5 * digestIntervalMillis) {
                    return; // the last request is still being answered
                }
                id = nextRequestId++;
                epoch = roleEpoch.get();
                waitingFor = new RangeRequest(id, new HashSet<>(differing), now);
                refreshing = Set.of();
                seenDuringRefresh.clear();
            }
            lastResyncRequestMillis = now;
            rangeResyncs.incrementAndGet(); // counted when asked: an in-process transport answers within send()
            LOG.info("sync: range resync {}: asking the peer for {} ranges that differed in two digests in a row", id, differing.size());
            try {
                transport.send(SyncCodec.encodeResync(now, id, epoch, differing));
            } catch (Exception e) {
                LOG.warn("sync resync request failed: {}", e.toString());
            }
        }
    }

    /**
     * Answers one request: RangeBegin, every flow of the ranges in batches, and RangeEnd with the
     * count — only if every batch went out and this side stayed the source of the same epoch;
     * otherwise no RangeEnd (the replica must not drop flows it was never sent).
     */
    private void sendRanges(SyncMessage.ResyncRequest q, long epoch) {
        Set<Integer> wanted = new HashSet<>(q.ranges());
        try {
            transport.send(SyncCodec.encodeRangeBegin(clock.getAsLong(), q.requestId(), epoch, q.ranges()));
            List<Exception> failures = new ArrayList<>();
            long sent = sendBatched(record -> wanted.contains(record.range()) && source && roleEpoch.get() == epoch, failures);
            if (!failures.isEmpty() || !source || roleEpoch.get() != epoch) {
                LOG.warn("sync: range resync {} not finished ({}): no range end sent", q.requestId(),
                        failures.isEmpty() ? "the role changed" : failures.getFirst().toString());
                return;
            }
            transport.send(SyncCodec.encodeRangeEnd(clock.getAsLong(), q.requestId(), epoch, sent, q.ranges()));
        } catch (Exception e) {
            LOG.warn("sync range resync failed: {}", e.toString());
        }
    }

    /**
     * Walks the store and sends the records {@code which} accepts in batches, until a batch
     * fails (its exception is added to {@code failures}); returns how many were handed to sends.
     */
    private long sendBatched(Predicate<FlowRecord> which, List<Exception> failures) {
        List<FlowRecord> chunk = new ArrayList<>(SyncCodec.MAX_BATCH);
        long[] sent = {0};
        store.forEach(record -> {
            if (failures.isEmpty() && which.test(record)) {
                chunk.add(record);
                if (chunk.size() == SyncCodec.MAX_BATCH) {
                    sent[0] += chunk.size();
                    sendQuietly(chunk, failures);
                }
            }
        });
        sent[0] += chunk.size();
        sendQuietly(chunk, failures);
        return sent[0];
    }

    private void sendQuietly(List<FlowRecord> chunk, List<Exception> failures) {
        if (chunk.isEmpty()) {
            return;
        }
        try {
            transport.send(SyncCodec.encodeRecords(clock.getAsLong(), chunk));
            recordsSent.addAndGet(chunk.size());
        } catch (Exception e) {
            failures.add(e);
        }
        chunk.clear();
    }

    private void finishRangeRefresh(List<Integer> ranges, RangeRequest answered) {
        Set<Integer> done = new HashSet<>(ranges);
        Set<FlowRecord.Key> seen;
        synchronized (rangeLock) {
            seen = new HashSet<>(seenDuringRefresh);
            refreshing = Set.of();
            seenDuringRefresh.clear();
        }
        List<FlowRecord> stale = new ArrayList<>();
        store.forEach(record -> {
            if (done.contains(record.range()) && !seen.contains(record.key())) {
                stale.add(record);
            }
        });
        stale.forEach(store::removeLocal);
        // The cause of every resync, for the soak's count (issue 20): what differed, or nothing
        // any more — then the digests differed twice only through changes in flight.
        boolean nothing = answered.inserted == 0 && answered.replaced == 0 && stale.isEmpty();
        LOG.info("sync: range resync {} done ({} ranges): {} flows were missing here, {} here the peer does not have (dropped),"
                        + " {} here with another mapping (replaced){}", answered.id, ranges.size(), answered.inserted, stale.size(),
                answered.replaced, nothing ? "; nothing differed any more: changes in flight at both digests" : "");
    }

    /**
     * The group healed from a partition (JGroups merged two views): while apart, each side may
     * have opened flows the other never heard of — in a split brain both were active. Like
     * pfsync's bulk update, which runs both ways, each side sends the other its whole table,
     * on the resync thread in batches; the receiver applies each record as any other (the
     * newer version of a flow wins; a record whose reply tuple another flow holds is refused),
     * and the digests settle what is left. A merge with a box that has just started and holds
     * nothing costs that box nothing: it only receives.
     */
    void peerMerged() {
        merges.incrementAndGet();
        peerChanged();
        try {
            resyncServer.execute(this::sendWholeTable);
        } catch (RejectedExecutionException closed) {
            // closing: nothing to send
        }
    }

    private void sendWholeTable() {
        List<Exception> failures = new ArrayList<>();
        long sent = sendBatched(record -> true, failures);
        if (failures.isEmpty()) {
            LOG.info("sync: merged with the peer (a partition healed): sent it this box's {} flows; it sends its own", sent);
        } else {
            LOG.warn("sync: merged with the peer, but sending this box's table failed ({}): the digests will ask for the rest",
                    failures.getFirst().toString());
        }
    }

    /** The peer joined or left: what we knew of its digest no longer holds, and a new peer wants our announcement. */
    void peerChanged() {
        digestsEqual = null;
        previouslyDiffering = null;
        announceNow = true;
        wake();
    }

    /** What this side tells the peer about itself from now on (sent at once, then periodically). */
    void announce(byte[] payload) {
        if (payload.length > SyncCodec.MAX_ANNOUNCEMENT) {
            throw new IllegalArgumentException("announcement of " + payload.length + " bytes; at most " + SyncCodec.MAX_ANNOUNCEMENT);
        }
        announcement = payload.clone();
        announceNow = true;
        wake();
    }

    /** The peer's latest announcement, or null if none arrived yet. */
    PeerAnnouncement peerAnnouncement() {
        return peerAnnouncement;
    }

    long peerClockAheadMillis() {
        return Math.max(0, peerAhead.get());
    }

    void noteFullResync(long records, long millis) {
        lastFullResync = new SyncStatus.FullResync(clock.getAsLong(), records, millis);
        recordsReceived.addAndGet(records);
    }

    SyncStatus status() {
        return new SyncStatus(source, transport.peerConnected(), transport.peer(), recordsSent.get(), recordsReceived.get(),
                queue.size(), overflows.get(), decodeErrors.get(), lastLagMillis, digestsEqual, rangeResyncs.get(),
                lastFullResync, 0, rangeMessagesIgnored.get(), merges.get(), 0, 0);
    }

    @Override
    public void close() {
        running = false;
        resyncServer.shutdownNow();
        thread.interrupt();
        try {
            thread.join(2000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
