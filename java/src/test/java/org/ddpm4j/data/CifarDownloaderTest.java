package org.ddpm4j.data;

import static org.junit.jupiter.api.Assertions.*;

import com.sun.net.httpserver.HttpServer;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.zip.GZIPOutputStream;
import org.ddpm4j.testing.TestData;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Downloads an archive this test builds itself, served from 127.0.0.1: no network needed. */
class CifarDownloaderTest {
    private HttpServer server;
    private byte[] archive;
    private final AtomicInteger hits = new AtomicInteger();
    private String url;

    /** A cifar-10-binary.tar.gz in the official layout (a folder cifar-10-batches-bin/), 2 records per batch file. */
    static byte[] buildArchive() throws IOException {
        ByteArrayOutputStream bos = new ByteArrayOutputStream();
        try (GZIPOutputStream gz = new GZIPOutputStream(bos)) {
            tarEntry(gz, "cifar-10-batches-bin/", new byte[0], '5');
            tarEntry(gz, "cifar-10-batches-bin/readme.html", "<html/>".getBytes(StandardCharsets.UTF_8), '0');
            tarEntry(gz, "cifar-10-batches-bin/batches.meta.txt",
                    String.join("\n", TestData.CIFAR_CLASSES).concat("\n").getBytes(StandardCharsets.UTF_8), '0');
            for (String f : Cifar10Reader.allFiles()) {
                if (!f.endsWith(".bin")) continue;
                byte[] b = new byte[2 * 3073];
                b[0] = 3;
                b[3073] = 8;
                b[5] = (byte) 200;
                tarEntry(gz, "cifar-10-batches-bin/" + f, b, '0');
            }
            gz.write(new byte[1024]);  // two zero blocks end the archive
        }
        return bos.toByteArray();
    }

    static void tarEntry(OutputStream out, String name, byte[] data, char type) throws IOException {
        byte[] h = new byte[512];
        byte[] n = name.getBytes(StandardCharsets.US_ASCII);
        System.arraycopy(n, 0, h, 0, n.length);
        octal(h, 100, 8, 0644);
        octal(h, 108, 8, 0);
        octal(h, 116, 8, 0);
        octal(h, 124, 12, data.length);
        octal(h, 136, 12, 0);
        h[156] = (byte) type;
        System.arraycopy("ustar\0".getBytes(StandardCharsets.US_ASCII), 0, h, 257, 6);
        h[263] = '0';
        h[264] = '0';
        for (int i = 148; i < 156; i++) h[i] = ' ';
        int sum = 0;
        for (byte b : h) sum += b & 0xff;
        octal(h, 148, 7, sum);
        out.write(h);
        out.write(data);
        out.write(new byte[(512 - data.length % 512) % 512]);
    }

    static void octal(byte[] h, int off, int len, long v) {
        String s = String.format("%0" + (len - 1) + "o", v);
        System.arraycopy(s.getBytes(StandardCharsets.US_ASCII), 0, h, off, len - 1);
    }

    static String md5(byte[] b) throws Exception {
        return HexFormat.of().formatHex(MessageDigest.getInstance("MD5").digest(b));
    }

    @BeforeEach
    void serve() throws IOException {
        archive = buildArchive();
        server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
        server.createContext("/cifar-10-binary.tar.gz", ex -> {
            hits.incrementAndGet();
            ex.sendResponseHeaders(200, archive.length);
            try (OutputStream os = ex.getResponseBody()) {
                os.write(archive);
            }
        });
        server.start();
        url = "http://127.0.0.1:" + server.getAddress().getPort() + "/cifar-10-binary.tar.gz";
    }

    @AfterEach
    void stop() {
        server.stop(0);
    }

    @Test
    void downloadsChecksAndExtractsThenReusesTheCache(@TempDir Path cache) throws Exception {
        List<String> log = new ArrayList<>();
        CifarDownloader d = new CifarDownloader(url, md5(archive), cache, log::add);
        Path dir = d.ensure();
        assertEquals(cache.resolve("cifar-10-batches-bin"), dir);
        assertTrue(Cifar10Reader.looksComplete(dir));
        assertFalse(Files.exists(dir.resolve("readme.html")), "only the CIFAR files are extracted");
        ImageSet train = Cifar10Reader.read(dir, Split.TRAIN);
        assertEquals(10, train.size());
        assertEquals(3, train.label(0));
        assertEquals(8, train.label(1));
        byte[] px = new byte[3072];
        train.copyImage(0, px, 0);
        assertEquals(200, px[4] & 0xff);
        assertEquals(1, hits.get());
        assertTrue(log.get(0).contains(url), log.toString());
        // Extracted folder present: no second download.
        assertEquals(dir, d.ensure());
        // Folder gone but verified archive cached: extracted again without downloading.
        for (Path p : Files.list(dir).toList()) Files.delete(p);
        Files.delete(dir);
        assertTrue(Cifar10Reader.looksComplete(d.ensure()));
        assertEquals(1, hits.get());
    }

    @Test
    void wrongMd5IsRejectedAndNothingIsKept(@TempDir Path cache) {
        CifarDownloader d = new CifarDownloader(url, CifarDownloader.OFFICIAL_MD5, cache, s -> {});
        DataException e = assertThrows(DataException.class, d::ensure);
        assertTrue(e.getMessage().contains("MD5") && e.getMessage().contains(CifarDownloader.OFFICIAL_MD5), e.getMessage());
        assertFalse(Files.exists(cache.resolve("cifar-10-binary.tar.gz")));
        assertFalse(Files.exists(cache.resolve("cifar-10-binary.tar.gz.part")));
        assertFalse(Files.exists(cache.resolve("cifar-10-batches-bin")));
    }

    @Test
    void httpErrorIsReported(@TempDir Path cache) {
        CifarDownloader d = new CifarDownloader(url.replace("cifar-10-binary", "nothing-here"), "00", cache, s -> {});
        DataException e = assertThrows(DataException.class, d::ensure);
        assertTrue(e.getMessage().contains("HTTP 404"), e.getMessage());
    }

    @Test
    void locatorDownloadsOnlyWhenAllowed(@TempDir Path cache) throws Exception {
        String md5 = md5(archive);
        CifarLocator no = new CifarLocator(false, url, md5, cache);
        String saved = System.getProperty("ddpm.cifar.dir");
        System.clearProperty("ddpm.cifar.dir");
        try {
            if (System.getenv("DDPM_CIFAR_DIR") == null && System.getProperty("ddpm.home") == null) {
                DataException e = assertThrows(DataException.class, () -> no.locate(null, s -> {}));
                assertTrue(e.getMessage().contains("download to fetch it"), e.getMessage());
            }
            Path got = new CifarLocator(true, url, md5, cache).locate(cache.resolve("absent").toString(), s -> {});
            assertEquals(cache.resolve("cifar-10-batches-bin"), got);
        } finally {
            if (saved != null) System.setProperty("ddpm.cifar.dir", saved);
        }
    }
}
