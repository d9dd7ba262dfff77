package org.ddpm4j.bench;

import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.TimeUnit;
import org.ddpm4j.backend.Backend;
import org.ddpm4j.backend.OpKernel;
import org.ddpm4j.binding.Backends;
import org.ddpm4j.model.UNetConfig;
import org.openjdk.jmh.infra.BenchmarkParams;
import org.openjdk.jmh.results.RunResult;
import org.openjdk.jmh.runner.Runner;
import org.openjdk.jmh.runner.options.ChainedOptionsBuilder;
import org.openjdk.jmh.runner.options.CommandLineOptions;
import org.openjdk.jmh.runner.options.OptionsBuilder;

/**
 * JMH with a summary: takes JMH's own command line (a benchmark regexp, -p
 * name=v1,v2, -wi/-i/-w/-r, -rf json -rff file, ...), leaves backend=cuda out
 * with one line when no GPU is usable here (unless -p backend=... is given),
 * runs, and then prints per benchmark the time per op, img/s, GFLOP/s and GB/s.
 *
 * <pre>
 *   java -cp benchmarks/target/benchmarks.jar org.ddpm4j.bench.Run                 # everything
 *   java -cp benchmarks/target/benchmarks.jar org.ddpm4j.bench.Run 'BlockBench|AdamBench' -p batch=32
 * </pre>
 */
public final class Run {
    private Run() {}

    public static void main(String[] args) throws Exception {
        CommandLineOptions cl = new CommandLineOptions(args);
        if (cl.shouldHelp() || cl.shouldList() || cl.shouldListWithParams() || cl.shouldListProfilers()
                || cl.shouldListResultFormats()) {
            org.openjdk.jmh.Main.main(args);
            return;
        }
        ChainedOptionsBuilder options = new OptionsBuilder().parent(cl);
        if (!cl.getParameter("backend").hasValue()) {
            String why = Backends.cudaUsable(System.getProperty("ddpm.bench.cudaLibs"));
            if (why != null) {
                System.out.println("# backend=cuda left out: " + why);
                options.param("backend", "cpu");
            }
        }
        Collection<RunResult> results = new Runner(options.build()).run();
        System.out.println();
        System.out.print(summary(results));
    }

    /** Work of one op of a benchmark: images, FLOPs and bytes (0 when not meaningful). */
    record Work(double images, double flops, double bytes) {}

    static String summary(Collection<RunResult> results) {
        StringBuilder out = new StringBuilder();
        out.append("Summary: time per op (JMH mean), img/s = batch / time, GFLOP/s from OpKernel.flops() or the\n")
           .append("model's FLOPs (train = 3 x forward), GB/s from OpKernel.bytes() (least bytes moved; memory-bound ops)\n");
        out.append(String.format(Locale.ROOT, "%-26s %-7s %-30s %12s %11s %10s %9s%n",
                "benchmark", "backend", "params", "ms/op", "img/s", "GFLOP/s", "GB/s"));
        List<RunResult> sorted = new ArrayList<>(results);
        try (Backend cpu = Backends.cpu(1)) {
            for (RunResult r : sorted) {
                BenchmarkParams p = r.getParams();
                String name = p.getBenchmark().substring(p.getBenchmark().lastIndexOf('.', p.getBenchmark().lastIndexOf('.') - 1) + 1);
                double seconds = secondsPerOp(r);
                Work w;
                try {
                    w = work(cpu, p);
                } catch (RuntimeException e) {
                    w = new Work(0, 0, 0);
                }
                out.append(String.format(Locale.ROOT, "%-26s %-7s %-30s %12.3f %11s %10s %9s%n",
                        name, p.getParam("backend"), otherParams(p), seconds * 1e3,
                        w.images() > 0 ? String.format(Locale.ROOT, "%.1f", w.images() / seconds) : "-",
                        w.flops() > 0 ? String.format(Locale.ROOT, "%.1f", w.flops() / seconds / 1e9) : "-",
                        w.bytes() > 0 && w.flops() == 0 ? String.format(Locale.ROOT, "%.1f", w.bytes() / seconds / 1e9) : "-"));
            }
        }
        return out.toString();
    }

    private static String otherParams(BenchmarkParams p) {
        List<String> parts = new ArrayList<>();
        for (String k : p.getParamsKeys()) {
            if (k.equals("backend") || (k.equals("threads") && p.getParam(k).equals("0"))) continue;
            parts.add(k + "=" + p.getParam(k));
        }
        return String.join(" ", parts);
    }

    private static double secondsPerOp(RunResult r) {
        BenchmarkParams p = r.getParams();
        double perUnit = TimeUnit.NANOSECONDS.convert(1, p.getTimeUnit()) / 1e9;
        double score = r.getPrimaryResult().getScore();
        switch (p.getMode()) {
            case Throughput:
                return perUnit / score;
            default:
                return score * perUnit;
        }
    }

    /** The work of one op, from a small op prepared on the CPU (everything scales with the batch). */
    static Work work(Backend cpu, BenchmarkParams p) {
        String bench = p.getBenchmark();
        String method = bench.substring(bench.lastIndexOf('.') + 1);
        if (bench.contains(".BlockBench.")) {
            Shapes.Block s = Shapes.Block.parse(p.getParam("shape"));
            int n = Integer.parseInt(p.getParam("batch"));
            try (OpKernel k = Backends.prepareOp(cpu, method.equals("backward") ? "block_backward" : "block_forward", 1,
                    s.cin(), s.cout(), s.h(), s.w())) {
                return new Work(n, n * k.flops(), n * k.bytes());
            }
        }
        if (bench.contains(".AdamBench.")) {
            long params = Shapes.paramCount(p.getParam("params"));
            int probe = 1 << 16;
            try (OpKernel k = Backends.prepareOp(cpu, "adam", 1, probe, 1, 1, 1)) {
                return new Work(0, 0, k.bytes() * ((double) params / probe));
            }
        }
        if (bench.contains(".DiffusionBench.")) {
            Shapes.Image im = Shapes.Image.parse(p.getParam("image"));
            int n = Integer.parseInt(p.getParam("batch"));
            try (OpKernel k = Backends.prepareOp(cpu, method.equals("reverseStep") ? "reverse_step" : "noise_add", 1,
                    im.c(), 1, im.h(), im.w())) {
                return new Work(n, n * k.flops(), n * k.bytes());
            }
        }
        if (bench.contains(".UNetBench.")) {
            UNetConfig c = Shapes.model(p.getParam("model"));
            int n = Integer.parseInt(p.getParam("batch"));
            double f = method.equals("trainStep") ? ModelStats.trainFlops(c) : ModelStats.forwardFlops(c);
            return new Work(n, n * f, 0);
        }
        return new Work(0, 0, 0);
    }
}
