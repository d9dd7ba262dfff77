package org.ddpm4j.cli;

import static org.junit.jupiter.api.Assertions.*;

import java.util.Arrays;
import java.util.HashSet;
import java.util.Set;
import org.ddpm4j.setting.Setting;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;
import picocli.CommandLine.Model.OptionSpec;

/** The settings table and the command line agree: an error that names a flag names one a command has. */
class SettingFlagsTest {
    @Test
    void everySettingsFlagIsAnOptionOfSomeCommand() {
        CommandLine cl = Main.commandLine(new Io(System.out, System.err, 0));
        Set<String> flags = new HashSet<>();
        for (CommandLine command : cl.getSubcommands().values()) {
            for (OptionSpec o : command.getCommandSpec().options()) flags.addAll(Arrays.asList(o.names()));
        }
        for (Setting s : Setting.values()) {
            if (s == Setting.MODEL) continue;  // the Java API's whole configuration; no flag
            assertTrue(flags.contains(s.flag()), s + ": no command has " + s.flag());
        }
    }

    /** Every command's --help formats without picocli's warnings (a bare % in a description is one). */
    @Test
    void everyHelpFormatsCleanly() {
        java.io.PrintStream err = System.err;
        java.io.ByteArrayOutputStream caught = new java.io.ByteArrayOutputStream();
        System.setErr(new java.io.PrintStream(caught, true));
        try {
            CommandLine cl = Main.commandLine(new Io(System.out, System.err, 0));
            for (CommandLine command : cl.getSubcommands().values()) assertFalse(command.getUsageMessage().isEmpty());
        } finally {
            System.setErr(err);
        }
        assertFalse(caught.toString().contains("picocli WARN"), caught.toString());
    }

    @Test
    void javaNamesAndFlagsAreUnique() {
        Set<String> java = new HashSet<>(), flag = new HashSet<>();
        for (Setting s : Setting.values()) {
            assertTrue(java.add(s.javaName()), "two settings named " + s.javaName());
            assertTrue(flag.add(s.flag()), "two settings with " + s.flag());
        }
    }
}
