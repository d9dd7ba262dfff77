package org.ddpm4j.setting;

import java.util.ArrayList;
import java.util.List;
import java.util.function.Function;

/**
 * A one-line text that names settings: literal strings and {@link Setting}s, rendered with the
 * names of one vocabulary ({@link Setting#javaName} for the API, {@link Setting#flag} for the CLI).
 * {@link #toString} renders the Java names.
 */
public final class SettingText {
    private final List<Object> parts;

    private SettingText(List<Object> parts) {
        this.parts = List.copyOf(parts);
    }

    /** @param parts strings (taken literally), settings, other texts; anything else as {@code String.valueOf} */
    public static SettingText of(Object... parts) {
        List<Object> out = new ArrayList<>();
        for (Object p : parts) {
            if (p instanceof SettingText t) out.addAll(t.parts);
            else if (p instanceof Setting s) out.add(s);
            else out.add(String.valueOf(p));
        }
        return new SettingText(out);
    }

    /** This text followed by {@code more}. */
    public SettingText then(Object... more) {
        Object[] all = new Object[more.length + 1];
        all[0] = this;
        System.arraycopy(more, 0, all, 1, more.length);
        return of(all);
    }

    /** The settings this text names, in order (with repeats). */
    public List<Setting> settings() {
        List<Setting> out = new ArrayList<>();
        for (Object p : parts) if (p instanceof Setting s) out.add(s);
        return out;
    }

    public String render(Function<Setting, String> name) {
        StringBuilder b = new StringBuilder();
        for (Object p : parts) b.append(p instanceof Setting s ? name.apply(s) : (String) p);
        return b.toString();
    }

    @Override
    public String toString() {
        return render(Setting::javaName);
    }
}
