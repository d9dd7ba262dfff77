package org.ddpm4j.data;

import java.util.List;
import java.util.Locale;

/** Resolves a --class value (a class name, case-insensitive, or its label number) against a data set's classes. */
public final class ClassSelector {
    private ClassSelector() {}

    public static int resolve(List<String> classNames, String spec) {
        String s = spec.trim();
        for (int i = 0; i < classNames.size(); i++) {
            if (classNames.get(i).equalsIgnoreCase(s)) return i;
        }
        if (!s.isEmpty() && s.chars().allMatch(Character::isDigit) && s.length() < 6) {
            int i = Integer.parseInt(s);
            if (i < classNames.size()) return i;
        }
        throw new DataException("unknown class '" + spec + "'; the classes are: " + String.join(", ", classNames));
    }

    /** The images of class {@code spec} in {@code set}. */
    public static ImageSet select(ImageSet set, String spec) {
        int label = resolve(set.classNames(), spec);
        ImageSet sub = set.onlyClass(label);
        if (sub.size() == 0) {
            throw new DataException("class '" + set.classNames().get(label).toLowerCase(Locale.ROOT) + "' has no images");
        }
        return sub;
    }
}
