package org.ddpm4j.testing;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.net.URISyntaxException;
import java.net.URL;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Runs Jazzer's own driver on a fuzz test class's {@code fuzzerTestOneInput} in a
 * child JVM: in-process, Jazzer fuzzes only one target per JVM, and {@code mvn test}
 * should fuzz every reader a little. The pass starts from the class's committed seeds
 * ({@code <Class>Inputs/} next to it) with a fixed libFuzzer seed, so it is repeatable.
 */
public final class Jazzer {
    /** Executions per reader in {@code mvn test} (-Dddpm.fuzz.runs=N changes it). */
    public static final int SHORT_RUNS = Integer.getInteger("ddpm.fuzz.runs", 10_000);
    /** What the fuzzer instruments for coverage: our code and the JSON parser it drives. */
    public static final String INSTRUMENT = "org.ddpm4j.**:com.google.gson.**";

    private Jazzer() {}

    /** Fuzzes {@code target} for {@link #SHORT_RUNS} executions; fails with Jazzer's report on a finding. */
    public static void shortPass(Class<?> target) throws IOException, InterruptedException, URISyntaxException {
        URL seeds = target.getResource(target.getSimpleName() + "Inputs");
        assertTrue(seeds != null && "file".equals(seeds.getProtocol()), "seed corpus of " + target.getName() + " not found");
        Path work = Files.createTempDirectory("jazzer-" + target.getSimpleName());
        Path corpus = Files.createDirectories(work.resolve("corpus"));
        Path log = work.resolve("jazzer.log");
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-cp", System.getProperty("java.class.path"), "com.code_intelligence.jazzer.Jazzer",
                "--target_class=" + target.getName(), "--instrumentation_includes=" + INSTRUMENT,
                "--reproducer_path=" + work, "-artifact_prefix=" + work + "/", "-seed=1", "-runs=" + SHORT_RUNS,
                "-max_total_time=300", corpus.toString(), Path.of(seeds.toURI()).toString()));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile()).start();
        if (!p.waitFor(10, TimeUnit.MINUTES)) {  // a guard against a stuck child, not a timing check
            p.destroyForcibly();
            throw new AssertionError("Jazzer did not finish on " + target.getName() + "; log: " + log);
        }
        String out = Files.readString(log, StandardCharsets.UTF_8);
        assertEquals(0, p.exitValue(), () -> "Jazzer found a problem in " + target.getName() + " (inputs in " + work
                + "):\n" + tail(out));
        Matcher done = Pattern.compile("Done (\\d+) runs").matcher(out);
        assertTrue(done.find(), () -> "Jazzer did not fuzz " + target.getName() + ":\n" + tail(out));
        System.out.println(target.getSimpleName() + ": " + done.group(0) + " without a finding");
        deleteTree(work);
    }

    /** The finding (Jazzer's report starts at "== Java Exception"), else the end of the log. */
    private static String tail(String s) {
        int finding = s.indexOf("== Java Exception");
        if (finding >= 0) return s.substring(finding);
        return s.length() <= 6000 ? s : "..." + s.substring(s.length() - 6000);
    }

    private static void deleteTree(Path dir) throws IOException {
        try (var files = Files.walk(dir)) {
            for (Path f : files.sorted(java.util.Comparator.reverseOrder()).toList()) Files.delete(f);
        }
    }
}
