package io.tandem.control;

import io.netty.channel.Channel;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelPipeline;
import io.netty.handler.timeout.IdleStateEvent;
import io.netty.handler.timeout.IdleStateHandler;
import io.netty.util.AttributeKey;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * What keeps an operators' server (the control socket, the HTTP side) from being exhausted
 * by its clients: at most {@code max} connections at once — a new one beyond that closes the
 * connection that has been quiet longest (counted as evicted), so an operator's new
 * {@code tandemctl} is served even while idle connections fill the server — and a connection
 * idle (nothing read or written) for {@code idle} is closed. So idle or abandoned
 * connections can neither use up tandemd's file descriptors, which its health probes and the
 * sync link need too, nor lock the operators out.
 */
@ChannelHandler.Sharable
final class ConnectionGuard extends ChannelInboundHandlerAdapter {
    private static final Logger LOG = LoggerFactory.getLogger(ConnectionGuard.class);

    private static final AttributeKey<Long> LAST_ACTIVE = AttributeKey.valueOf("tandem.lastActive");

    private final String server;
    private final int max;
    private final Duration idle;
    private final Set<Channel> channels = ConcurrentHashMap.newKeySet();
    private final AtomicLong evicted = new AtomicLong();
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
        ctx.channel().attr(LAST_ACTIVE).set(System.nanoTime());
        channels.add(ctx.channel());
        if (channels.size() > max) {
            Channel quietest = null;
            for (Channel c : channels) {
                if (c != ctx.channel() && c.isActive() && (quietest == null || c.attr(LAST_ACTIVE).get() < quietest.attr(LAST_ACTIVE).get())) {
                    quietest = c;
                }
            }
            if (quietest != null) {
                long n = evicted.incrementAndGet();
                if (n == 1 || n % 1000 == 0) {
                    LOG.warn("{}: {} connections open, the most allowed; closed the quietest ({} so far)", server, max, n);
                }
                quietest.close();
            }
        }
        super.channelActive(ctx);
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) throws Exception {
        ctx.channel().attr(LAST_ACTIVE).set(System.nanoTime());
        super.channelRead(ctx, msg);
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) throws Exception {
        channels.remove(ctx.channel());
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
        return channels.size();
    }

    /** Connections closed to make room for a new one. */
    long evicted() {
        return evicted.get();
    }

    long idleClosed() {
        return idleClosed.get();
    }
}
