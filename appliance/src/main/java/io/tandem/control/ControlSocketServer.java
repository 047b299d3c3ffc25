package io.tandem.control;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import com.fasterxml.jackson.databind.SerializationFeature;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.epoll.EpollServerDomainSocketChannel;
import io.netty.channel.unix.DomainSocketAddress;
import io.netty.channel.unix.DomainSocketChannel;
import io.netty.handler.codec.LineBasedFrameDecoder;
import io.netty.handler.codec.TooLongFrameException;
import io.netty.handler.codec.string.StringDecoder;
import io.netty.handler.codec.string.StringEncoder;
import io.netty.util.concurrent.DefaultEventExecutorGroup;
import io.netty.util.concurrent.EventExecutor;
import io.netty.util.concurrent.EventExecutorGroup;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.concurrent.TimeUnit;

/**
 * The control socket {@code tandemctl} talks to: a Unix socket (mode 0660: root, and the
 * members of tandemd's group ({@code tandem} under the packaged unit) — or
 * whoever runs tandemd — may connect), one JSON request per line, one JSON response per line.
 * Every command of the {@link ControlApi} is allowed here, mutations included.
 */
public final class ControlSocketServer implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(ControlSocketServer.class);
    /** A request is a few hundred bytes; a longer line is a client's mistake. */
    private static final int MAX_REQUEST = 64 * 1024;
    public static final ObjectMapper JSON = new ObjectMapper()
            .setPropertyNamingStrategy(PropertyNamingStrategies.SNAKE_CASE)
            .disable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES)
            .disable(SerializationFeature.FAIL_ON_EMPTY_BEANS);

    /** tandemctl opens one connection per command; a few dozen at once is a lot. */
    static final int MAX_CONNECTIONS = 64;
    static final Duration IDLE_TIMEOUT = Duration.ofSeconds(30);

    private final Path path;
    private final ConnectionGuard guard = new ConnectionGuard("control socket", MAX_CONNECTIONS, IDLE_TIMEOUT);
    private final MultiThreadIoEventLoopGroup group = new MultiThreadIoEventLoopGroup(1, EpollIoHandler.newFactory());
    /**
     * Where the commands run, off the socket's event loop: a failover waits for the peer for a
     * second or more, and keepalived's {@code alive}, answered on the loop itself, must not wait
     * behind it. One executor per connection keeps a connection's answers in order.
     */
    private final EventExecutorGroup commands = new DefaultEventExecutorGroup(2);
    private final Channel channel;

    /** Whether a process accepts connections on the Unix socket at {@code path} (a running tandemd does). */
    public static boolean answers(Path path) {
        if (!Files.exists(path)) {
            return false;
        }
        try (SocketChannel probe = SocketChannel.open(StandardProtocolFamily.UNIX)) {
            probe.connect(UnixDomainSocketAddress.of(path));
            return true;
        } catch (IOException e) {
            return false; // refused: a socket file left behind by a tandemd that is gone
        }
    }

    private ControlSocketServer(Path path, ControlApi api) throws IOException {
        this.path = path;
        try {
            Files.createDirectories(path.getParent());
            if (answers(path)) {
                throw new IOException("another tandemd answers on it: stop that one first (the socket is left as it is)");
            }
            Files.deleteIfExists(path); // a socket left by a killed tandemd: nobody answers on it
            channel = new ServerBootstrap().group(group).channel(EpollServerDomainSocketChannel.class)
                    .childHandler(new ChannelInitializer<DomainSocketChannel>() {
                        @Override
                        protected void initChannel(DomainSocketChannel ch) {
                            guard.install(ch.pipeline());
                            ch.pipeline().addLast(new LineBasedFrameDecoder(MAX_REQUEST),
                                    new StringDecoder(StandardCharsets.UTF_8), new StringEncoder(StandardCharsets.UTF_8),
                                    new RequestHandler(api, commands.next()));
                        }
                    })
                    .bind(new DomainSocketAddress(path.toFile())).sync().channel();
            Files.setPosixFilePermissions(path, PosixFilePermissions.fromString("rw-rw----"));
        } catch (Exception e) {
            group.shutdownGracefully();
            commands.shutdownGracefully();
            throw new IOException("cannot open the control socket " + path + ": " + e.getMessage(), e);
        }
    }

    public static ControlSocketServer start(Path path, ControlApi api) throws IOException {
        ControlSocketServer server = new ControlSocketServer(path, api);
        LOG.info("control socket: {}", path);
        return server;
    }

    private static final class RequestHandler extends SimpleChannelInboundHandler<String> {
        private final ControlApi api;
        private final EventExecutor commands;

        RequestHandler(ControlApi api, EventExecutor commands) {
            this.api = api;
            this.commands = commands;
        }

        @Override
        protected void channelRead0(ChannelHandlerContext ctx, String line) throws Exception {
            ControlRequest request;
            try {
                request = JSON.readValue(line, ControlRequest.class);
            } catch (JsonProcessingException e) {
                ctx.writeAndFlush(JSON.writeValueAsString(ControlResponse.error("not a control request: " + e.getOriginalMessage())) + "\n");
                return;
            }
            if ("alive".equals(request.command())) {
                answer(ctx, request); // keepalived's check: never behind another command
            } else {
                commands.execute(() -> answer(ctx, request));
            }
        }

        private void answer(ChannelHandlerContext ctx, ControlRequest request) {
            try {
                ctx.writeAndFlush(JSON.writeValueAsString(api.handle(request, true)) + "\n");
            } catch (JsonProcessingException e) {
                ctx.writeAndFlush("{\"ok\":false,\"error\":\"the answer could not be written\"}\n");
            }
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) throws Exception {
            if (cause instanceof TooLongFrameException) {
                ctx.writeAndFlush(JSON.writeValueAsString(ControlResponse.error("request longer than " + MAX_REQUEST + " bytes")) + "\n");
            }
            ctx.close();
        }
    }

    @Override
    public void close() {
        channel.close().syncUninterruptibly();
        group.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
        commands.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
        try {
            Files.deleteIfExists(path);
        } catch (IOException e) {
            LOG.warn("removing the control socket: {}", e.toString());
        }
    }
}
