package io.tandem.lab;

import org.openqa.selenium.By;
import org.openqa.selenium.JavascriptExecutor;
import org.openqa.selenium.OutputType;
import org.openqa.selenium.TakesScreenshot;
import org.openqa.selenium.TimeoutException;
import org.openqa.selenium.WebDriver;
import org.openqa.selenium.chrome.ChromeDriver;
import org.openqa.selenium.chrome.ChromeDriverService;
import org.openqa.selenium.chrome.ChromeOptions;
import org.openqa.selenium.support.ui.WebDriverWait;

import java.io.File;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;

/**
 * Drives the system Chromium (headless, through Debian's chromedriver) against a tandemd's
 * status page, from inside the box's network namespace (run with {@code ip netns exec}, so
 * the page's loopback address is the box's own). Prints what it saw, a line per step, for the
 * test to wait on; exits 0 when every step was seen within its bound.
 *
 * <pre>PageCheck URL SCREENSHOT.png SECONDS</pre>
 * <ol>
 *   <li>the page shows both boxes' roles (ACTIVE and STANDBY) and "IN SYNC": prints {@code seen in-sync};</li>
 *   <li>saves a screenshot, marks the page (a reload would clear the mark);</li>
 *   <li>waits — the test cuts the sync link — until the page says "NOT IN SYNC" without a reload:
 *       prints {@code seen not-in-sync} with the reasons shown;</li>
 *   <li>also fetches /metrics and /api/flows over HTTP and prints their first lines.</li>
 * </ol>
 */
public final class PageCheck {
    private PageCheck() {
    }

    public static void main(String[] args) throws Exception {
        String url = args[0];
        Path screenshot = Path.of(args[1]);
        Duration bound = Duration.ofSeconds(Integer.parseInt(args[2]));
        fetch(url + "api/flows?limit=2");
        fetch(url + "metrics");
        ChromeOptions options = new ChromeOptions();
        options.setBinary("/usr/bin/chromium");
        options.addArguments("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1200,1400", "--user-data-dir=" + Files.createTempDirectory("tandem-chromium"));
        ChromeDriverService service = new ChromeDriverService.Builder()
                .usingDriverExecutable(new File("/usr/bin/chromedriver")).usingAnyFreePort().build();
        WebDriver driver = new ChromeDriver(service, options);
        int exit = 1;
        try {
            driver.get(url);
            WebDriverWait wait = new WebDriverWait(driver, bound, Duration.ofMillis(200));
            wait.until(d -> text(d, "verdict").equals("IN SYNC") && text(d, "self-role").equals("ACTIVE")
                    && text(d, "peer-role").equals("STANDBY") && !text(d, "services").isEmpty());
            System.out.println("seen in-sync self=" + text(driver, "self-role") + " peer=" + text(driver, "peer-role")
                    + " detail='" + text(driver, "verdict-detail") + "'");
            Files.write(screenshot, ((TakesScreenshot) driver).getScreenshotAs(OutputType.BYTES));
            ((JavascriptExecutor) driver).executeScript("window.tandemNoReload = 42;");
            System.out.println("screenshot " + screenshot);
            System.out.flush();
            wait.until(d -> text(d, "verdict").equals("NOT IN SYNC"));
            Object mark = ((JavascriptExecutor) driver).executeScript("return window.tandemNoReload;");
            System.out.println("seen not-in-sync reasons='" + text(driver, "reasons").replace('\n', ';') + "' same-page="
                    + Long.valueOf(42).equals(mark));
            exit = 0;
        } catch (TimeoutException e) {
            System.out.println("timed out: verdict='" + text(driver, "verdict") + "' self=" + text(driver, "self-role")
                    + " peer=" + text(driver, "peer-role"));
        } finally {
            driver.quit();
        }
        System.exit(exit);
    }

    private static String text(WebDriver driver, String id) {
        return driver.findElement(By.id(id)).getText().strip();
    }

    private static void fetch(String url) throws Exception {
        try (HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build()) {
            HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofSeconds(10)).build(),
                    HttpResponse.BodyHandlers.ofString());
            String first = r.body().lines().filter(l -> !l.startsWith("#")).findFirst().orElse("");
            System.out.println("http " + r.statusCode() + " " + url + " " + first.substring(0, Math.min(160, first.length())));
        }
    }
}
