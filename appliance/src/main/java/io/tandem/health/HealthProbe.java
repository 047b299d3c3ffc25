package io.tandem.health;

import io.netty.bootstrap.Bootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.channel.epoll.EpollSocketChannel;
import io.netty.channel.socket.SocketChannel;
import io.netty.handler.codec.http.DefaultFullHttpRequest;
import io.netty.handler.codec.http.HttpClientCodec;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpObject;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import io.netty.handler.ssl.util.InsecureTrustManagerFactory;
import io.tandem.config.HealthCheckConfig;

import java.net.InetSocketAddress;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import javax.net.ssl.SSLException;

/**
 * One health check with Netty's client: a TCP connect, or an HTTP(S) GET whose status must be
 * the expected one, all within the timeout. Completes, never throws: the result says why a
 * check failed ("connection refused", "status 503", "timeout").
 */
public final class HealthProbe {
    /** A check's outcome and what was seen. */
    public record Result(boolean ok, String detail) {
    }

    private final EventLoopGroup group;
    private final SslContext ssl;

    public HealthProbe(EventLoopGroup group) {
        this.group = group;
        try {
            ssl = SslContextBuilder.forClient().trustManager(InsecureTrustManagerFactory.INSTANCE).build();
        } catch (SSLException e) {
            throw new IllegalStateException("TLS client context: " + e.getMessage(), e);
        }
    }

    public CompletableFuture<Result> check(String address, int port, HealthCheckConfig check) {
        CompletableFuture<Result> result = new CompletableFuture<>();
        long timeoutMillis = check.timeout().toMillis();
        boolean http = check.type() != HealthCheckConfig.Type.TCP;
        Bootstrap bootstrap = new Bootstrap().group(group).channel(EpollSocketChannel.class)
                .option(ChannelOption.CONNECT_TIMEOUT_MILLIS, (int) timeoutMillis)
                .handler(new ChannelInitializer<SocketChannel>() {
                    @Override
                    protected void initChannel(SocketChannel ch) {
                        if (check.type() == HealthCheckConfig.Type.HTTPS) {
                            ch.pipeline().addLast(ssl.newHandler(ch.alloc(), address, port));
                        }
                        if (http) {
                            ch.pipeline().addLast(new HttpClientCodec(), new StatusHandler(check.expectStatus(), result));
                        }
                    }
                });
        ChannelFuture connect = bootstrap.connect(new InetSocketAddress(address, port));
        Channel channel = connect.channel();
        var timer = channel.eventLoop().schedule(() -> {
            result.complete(new Result(false, "timeout after " + timeoutMillis + " ms"));
            channel.close();
        }, timeoutMillis, TimeUnit.MILLISECONDS);
        result.whenComplete((r, e) -> timer.cancel(false));
        connect.addListener(f -> {
            if (!f.isSuccess()) {
                Throwable cause = f.cause();
                String why = cause.getMessage() == null ? cause.getClass().getSimpleName() : cause.getMessage();
                result.complete(new Result(false, why.replaceFirst("^.*: ", "")));
            } else if (!http) {
                result.complete(new Result(true, "connected"));
                channel.close();
            } else {
                DefaultFullHttpRequest get = new DefaultFullHttpRequest(HttpVersion.HTTP_1_1, HttpMethod.GET, check.path());
                get.headers().set(HttpHeaderNames.HOST, hostHeader(address, port, check.type() == HealthCheckConfig.Type.HTTPS)).set(HttpHeaderNames.CONNECTION, HttpHeaderValues.CLOSE)
                        .set(HttpHeaderNames.USER_AGENT, "tandem-health");
                channel.writeAndFlush(get);
            }
        });
        channel.closeFuture().addListener(f -> result.complete(new Result(false, "closed without an answer")));
        return result;
    }

    /** Reads the response's status line, then closes. */
    private static final class StatusHandler extends SimpleChannelInboundHandler<HttpObject> {
        private final int expect;
        private final CompletableFuture<Result> result;

        StatusHandler(int expect, CompletableFuture<Result> result) {
            this.expect = expect;
            this.result = result;
        }

        @Override
        protected void channelRead0(ChannelHandlerContext ctx, HttpObject msg) {
            if (msg instanceof HttpResponse response) {
                int status = response.status().code();
                result.complete(new Result(status == expect, "status " + status));
                ctx.close();
            }
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            result.complete(new Result(false, String.valueOf(cause.getMessage())));
            ctx.close();
        }
    }

    /**
     * The Host header: an IPv6 literal in brackets (RFC 7230 §5.4, RFC 3986 §3.2.2), with the
     * port unless it is the scheme's default.
     */
    static String hostHeader(String address, int port, boolean https) {
        String host = address.indexOf(':') >= 0 ? "[" + address + "]" : address;
        return port == (https ? 443 : 80) ? host : host + ":" + port;
    }
}
