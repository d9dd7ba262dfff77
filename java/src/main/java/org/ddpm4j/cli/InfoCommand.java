package org.ddpm4j.cli;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import org.ddpm4j.backend.Backend;
import org.ddpm4j.binding.Backends;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;

@Command(name = "info", mixinStandardHelpOptions = true, usageHelpAutoWidth = true,
        description = "Show the backend --device selects, its threads, the CPU, CUDA devices and versions.")
public final class InfoCommand implements Callable<Integer> {
    private final Io io;

    @Mixin CommonOptions common;

    InfoCommand(Io io) {
        this.io = io;
    }

    @Override
    public Integer call() {
        var out = io.out();
        out.println("ddpm4j " + Main.version() + " (native " + Backends.nativeVersion() + ")");
        out.println("java: " + System.getProperty("java.version") + " (" + System.getProperty("java.vm.name") + ", "
                + System.getProperty("java.vendor") + ")");
        out.println("cpu: " + cpuModel() + ", " + Runtime.getRuntime().availableProcessors() + " cores");
        String why = Backends.cudaUsable(common.cudaLibs);
        if (why == null) {
            List<String> devices = Backends.cudaDevices(common.cudaLibs);
            out.println("cuda: " + (devices.isEmpty() ? "usable" : String.join("; ", devices)));
        } else {
            out.println("cuda: not usable (" + why + ")");
        }
        try (Backend be = common.openBackend()) {
            out.println("backend: " + be.name() + " (" + be.deviceName() + ")");
            out.println("threads: " + be.threads());
        }
        return 0;
    }

    static String cpuModel() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/cpuinfo"))) {
                if (line.startsWith("model name")) return line.substring(line.indexOf(':') + 1).trim();
            }
        } catch (IOException | RuntimeException ignored) {
            // not Linux, or unreadable
        }
        return System.getProperty("os.arch");
    }
}
