package io.tandem.control;

import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.epoll.EpollServerSocketChannel;
import io.netty.channel.socket.SocketChannel;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.QueryStringDecoder;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * The read-only HTTP side of the control API (Netty): the status page ({@code /}), its JSON
 * endpoints ({@code /api/status}, {@code /api/flows?service=…&limit=…}, …: every query
 * command of the {@link ControlApi}) and Prometheus {@code /metrics}. Mutations are refused
 * here: they go through the control socket, which file permissions protect.
 */
public final class HttpControlServer implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(HttpControlServer.class);
    private static final Map<String, String[]> PAGE = Map.of(
            "/", new String[] {"index.html", "text/html; charset=utf-8"},
            "/page.js", new String[] {"page.js", "text/javascript; charset=utf-8"},
            "/page.css", new String[] {"page.css", "text/css; charset=utf-8"});

    private final MultiThreadIoEventLoopGroup group = new MultiThreadIoEventLoopGroup(1, EpollIoHandler.newFactory());
    /** The page polls once a second over one keep-alive connection; Prometheus scrapes over one more. */
    static final int MAX_CONNECTIONS = 256;
    static final Duration IDLE_TIMEOUT = Duration.ofSeconds(30);

    private final Channel channel;
    private final ConnectionGuard guard;

    private HttpControlServer(String host, int port, ControlApi api, Metrics metrics, ConnectionGuard guard) throws IOException {
        this.guard = guard;
        Handler handler = handler(api, metrics);
        try {
            channel = new ServerBootstrap().group(group).channel(EpollServerSocketChannel.class)
                    .childHandler(new ChannelInitializer<SocketChannel>() {
                        @Override
                        protected void initChannel(SocketChannel ch) {
                            guard.install(ch.pipeline());
                            ch.pipeline().addLast(new HttpServerCodec(), new HttpObjectAggregator(16 * 1024),
                                    handler);
                        }
                    })
                    .bind(new InetSocketAddress(host, port)).sync().channel();
        } catch (Exception e) {
            group.shutdownGracefully(0, 1, TimeUnit.SECONDS);
            throw new IOException("cannot listen on http " + host + ":" + port + ": " + e.getMessage(), e);
        }
    }

    public static HttpControlServer start(String host, int port, ControlApi api, Metrics metrics) throws IOException {
        return start(host, port, api, metrics, new ConnectionGuard("http", MAX_CONNECTIONS, IDLE_TIMEOUT));
    }

    static HttpControlServer start(String host, int port, ControlApi api, Metrics metrics, ConnectionGuard guard) throws IOException {
        HttpControlServer server = new HttpControlServer(host, port, api, metrics, guard);
        LOG.info("status page and API: http://{}:{}/", host, server.port());
        return server;
    }

    /** The port bound (the configured one, or the one the kernel chose for port 0). */
    public int port() {
        return ((InetSocketAddress) channel.localAddress()).getPort();
    }

    /** The request handler with the page's files loaded (shared by every connection: it keeps no state). */
    static Handler handler(ControlApi api, Metrics metrics) throws IOException {
        Map<String, byte[]> files = new HashMap<>();
        for (String[] file : PAGE.values()) {
            files.put(file[0], resource(file[0]));
        }
        return new Handler(api, metrics, files);
    }

    private static byte[] resource(String name) throws IOException {
        try (InputStream in = HttpControlServer.class.getResourceAsStream("page/" + name)) {
            if (in == null) {
                throw new IOException("status page file " + name + " is missing from the build");
            }
            return in.readAllBytes();
        }
    }

    @ChannelHandler.Sharable
    static final class Handler extends SimpleChannelInboundHandler<FullHttpRequest> {
        private final ControlApi api;
        private final Metrics metrics;
        private final Map<String, byte[]> files;

        Handler(ControlApi api, Metrics metrics, Map<String, byte[]> files) {
            this.api = api;
            this.metrics = metrics;
            this.files = files;
        }

        @Override
        protected void channelRead0(ChannelHandlerContext ctx, FullHttpRequest request) throws Exception {
            QueryStringDecoder uri = new QueryStringDecoder(request.uri());
            String path = uri.path();
            FullHttpResponse response;
            if (!request.method().equals(HttpMethod.GET)) {
                response = text(HttpResponseStatus.METHOD_NOT_ALLOWED, "read-only: GET only; changes go through tandemctl\n");
                response.headers().set(HttpHeaderNames.ALLOW, "GET");
            } else if (PAGE.containsKey(path)) {
                String[] file = PAGE.get(path);
                response = bytes(HttpResponseStatus.OK, files.get(file[0]), file[1]);
            } else if (path.equals("/metrics")) {
                response = bytes(HttpResponseStatus.OK, metrics.scrape(), metrics.contentType());
            } else if (path.startsWith("/api/")) {
                response = api(path.substring(5), uri.parameters());
            } else {
                response = text(HttpResponseStatus.NOT_FOUND, "no such page: " + path + "\n");
            }
            response.headers().set(HttpHeaderNames.CACHE_CONTROL, "no-store")
                    .set("X-Content-Type-Options", "nosniff")
                    .set("Content-Security-Policy", "default-src 'self'");
            boolean keepAlive = HttpUtil.isKeepAlive(request);
            HttpUtil.setKeepAlive(response, keepAlive);
            var future = ctx.writeAndFlush(response);
            if (!keepAlive) {
                future.addListener(ChannelFutureListener.CLOSE);
            }
        }

        private FullHttpResponse api(String command, Map<String, List<String>> parameters) throws IOException {
            Map<String, String> args = new HashMap<>();
            parameters.forEach((k, v) -> args.put(k, v.getFirst()));
            ControlResponse r = api.handle(new ControlRequest(command, false, "http", args), false);
            HttpResponseStatus status = r.ok() ? HttpResponseStatus.OK
                    : r.error().startsWith("unknown command") ? HttpResponseStatus.NOT_FOUND : HttpResponseStatus.BAD_REQUEST;
            return bytes(status, ControlSocketServer.JSON.writeValueAsBytes(r), "application/json");
        }

        private static FullHttpResponse text(HttpResponseStatus status, String body) {
            return bytes(status, body.getBytes(StandardCharsets.UTF_8), "text/plain; charset=utf-8");
        }

        private static FullHttpResponse bytes(HttpResponseStatus status, byte[] body, String type) {
            FullHttpResponse response = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, status, Unpooled.wrappedBuffer(body));
            response.headers().set(HttpHeaderNames.CONTENT_TYPE, type).setInt(HttpHeaderNames.CONTENT_LENGTH, body.length);
            return response;
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            LOG.debug("http: {}", cause.toString());
            ctx.close();
        }
    }

    @Override
    public void close() {
        channel.close().syncUninterruptibly();
        group.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
    }
}
