package io.tandem.control;

import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelPipeline;
import io.netty.handler.timeout.IdleStateEvent;
import io.netty.handler.timeout.IdleStateHandler;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/**
 * What keeps an operators' server (the control socket, the HTTP side) from being exhausted
 * by its clients: at most {@code max} connections at once — one more is closed at once, and
 * counted — and a connection idle (nothing read or written) for {@code idle} is closed. So
 * idle or abandoned connections cannot use up tandemd's file descriptors, which its health
 * probes and the sync link need too.
 */
@ChannelHandler.Sharable
final class ConnectionGuard extends ChannelInboundHandlerAdapter {
    private static final Logger LOG = LoggerFactory.getLogger(ConnectionGuard.class);

    private final String server;
    private final int max;
    private final Duration idle;
    private final AtomicInteger open = new AtomicInteger();
    private final AtomicLong refused = new AtomicLong();
    private final AtomicLong idleClosed = new AtomicLong();

    ConnectionGuard(String server, int max, Duration idle) {
        this.server = server;
        this.max = max;
        this.idle = idle;
    }

    /** Puts the guard (and its idle timer) first in a new connection's pipeline. */
    void install(ChannelPipeline pipeline) {
        pipeline.addFirst(new IdleStateHandler(0, 0, idle.toMillis(), TimeUnit.MILLISECONDS));
        pipeline.addAfter(pipeline.firstContext().name(), null, this);
    }

    @Override
    public void channelActive(ChannelHandlerContext ctx) throws Exception {
        if (open.incrementAndGet() > max) {
            long n = refused.incrementAndGet();
            if (n == 1 || n % 1000 == 0) {
                LOG.warn("{}: {} connections open, the most allowed; refused {} so far", server, max, n);
            }
            ctx.close();
            return;
        }
        super.channelActive(ctx);
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) throws Exception {
        open.decrementAndGet();
        super.channelInactive(ctx);
    }

    @Override
    public void userEventTriggered(ChannelHandlerContext ctx, Object event) throws Exception {
        if (event instanceof IdleStateEvent) {
            idleClosed.incrementAndGet();
            ctx.close();
            return;
        }
        super.userEventTriggered(ctx, event);
    }

    int open() {
        return open.get();
    }

    long refused() {
        return refused.get();
    }

    long idleClosed() {
        return idleClosed.get();
    }
}
