package org.mmoestream.config;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Set;

/**
 * A node of a YAML file with its path, for validation messages such as {@code "job.yaml:
 * model.experts must be an integer >= 1, got 'x'."}. Unknown keys are rejected by {@link
 * #allowOnly}.
 */
public final class YamlNode {
    private static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory());

    private final String file;
    private final String path;
    private final JsonNode node;

    private YamlNode(String file, String path, JsonNode node) {
        this.file = file;
        this.path = path;
        this.node = node;
    }

    /** Parses {@code file}; a missing or malformed file is an {@link InputException}. */
    public static YamlNode load(Path file) {
        String name = file.toString();
        if (!Files.isRegularFile(file)) {
            throw new InputException(name + ": file not found.");
        }
        try {
            JsonNode root = YAML.readTree(file.toFile());
            if (root == null || !root.isObject()) {
                throw new InputException(name + ": the top level must be a mapping of keys.");
            }
            return new YamlNode(name, "", root);
        } catch (IOException e) {
            String msg = e.getMessage() == null ? e.toString() : e.getMessage().split("\n")[0];
            throw new InputException(name + ": not valid YAML (" + msg + ").");
        }
    }

    public String file() {
        return file;
    }

    public String path() {
        return path;
    }

    /** An error naming this node's key. */
    public InputException error(String problem) {
        return new InputException(file + ": " + (path.isEmpty() ? "the file" : path) + " " + problem + ".");
    }

    private String child(String key) {
        return path.isEmpty() ? key : path + "." + key;
    }

    public boolean has(String key) {
        return node.has(key) && !node.get(key).isNull();
    }

    /** The child {@code key}, which must exist. */
    public YamlNode get(String key) {
        if (!has(key)) {
            throw new InputException(file + ": " + child(key) + " is required.");
        }
        return new YamlNode(file, child(key), node.get(key));
    }

    /** Rejects keys other than {@code allowed}, naming the first unknown one. */
    public YamlNode allowOnly(Set<String> allowed) {
        if (!node.isObject()) {
            throw error("must be a mapping");
        }
        Iterator<String> it = node.fieldNames();
        while (it.hasNext()) {
            String k = it.next();
            if (!allowed.contains(k)) {
                throw new InputException(file + ": unknown key " + child(k) + " (allowed: "
                        + String.join(", ", allowed.stream().sorted().toList()) + ").");
            }
        }
        return this;
    }

    public List<YamlNode> list() {
        if (!node.isArray()) {
            throw error("must be a list");
        }
        List<YamlNode> out = new ArrayList<>();
        for (int i = 0; i < node.size(); i++) {
            out.add(new YamlNode(file, path + "[" + i + "]", node.get(i)));
        }
        return out;
    }

    public String text() {
        if (!node.isValueNode()) {
            throw error("must be a single value");
        }
        return node.asText();
    }

    public String string(String key, String dflt) {
        return has(key) ? get(key).text() : dflt;
    }

    public int integer(String key, int dflt, int min) {
        if (!has(key)) {
            return dflt;
        }
        JsonNode v = node.get(key);
        if (!v.isIntegralNumber() || v.asLong() < min || v.asLong() > Integer.MAX_VALUE) {
            throw new InputException(
                    file + ": " + child(key) + " must be an integer >= " + min + ", got '" + v.asText() + "'.");
        }
        return v.asInt();
    }

    public double number(String key, double dflt, double min, double max) {
        if (!has(key)) {
            return dflt;
        }
        JsonNode v = node.get(key);
        if (!v.isNumber() || !Double.isFinite(v.asDouble()) || v.asDouble() < min || v.asDouble() > max) {
            throw new InputException(file + ": " + child(key) + " must be a number in [" + min + ", " + max + "], got '"
                    + v.asText() + "'.");
        }
        return v.asDouble();
    }

    public boolean bool(String key, boolean dflt) {
        if (!has(key)) {
            return dflt;
        }
        JsonNode v = node.get(key);
        if (!v.isBoolean()) {
            throw new InputException(file + ": " + child(key) + " must be true or false, got '" + v.asText() + "'.");
        }
        return v.asBoolean();
    }

    /** A list of integers >= {@code min}. */
    public List<Integer> integers(String key, List<Integer> dflt, int min) {
        if (!has(key)) {
            return dflt;
        }
        List<Integer> out = new ArrayList<>();
        for (YamlNode n : get(key).list()) {
            if (!n.node.isIntegralNumber() || n.node.asInt() < min) {
                throw n.error("must be an integer >= " + min + ", got '" + n.node.asText() + "'");
            }
            out.add(n.node.asInt());
        }
        return out;
    }

    /** A non-empty list of finite numbers, each above the one before it. */
    public List<Double> increasingNumbers(String key) {
        List<Double> out = new ArrayList<>();
        for (YamlNode n : get(key).list()) {
            if (!n.node.isNumber() || !Double.isFinite(n.node.asDouble())) {
                throw n.error("must be a number, got '" + n.node.asText() + "'");
            }
            if (!out.isEmpty() && n.node.asDouble() <= out.get(out.size() - 1)) {
                throw n.error("must be above the number before it, got '" + n.node.asText() + "'");
            }
            out.add(n.node.asDouble());
        }
        if (out.isEmpty()) {
            throw get(key).error("must list at least one number");
        }
        return out;
    }

    /** Collects every scalar under this node as dotted path -> text (lists are not allowed). */
    public void flatten(String prefix, java.util.Map<String, String> out) {
        if (node.isObject()) {
            Iterator<String> it = node.fieldNames();
            while (it.hasNext()) {
                String k = it.next();
                new YamlNode(file, child(k), node.get(k)).flatten(prefix.isEmpty() ? k : prefix + "." + k, out);
            }
        } else if (node.isValueNode() && !node.isNull()) {
            out.put(prefix, node.asText());
        } else if (!node.isNull()) {
            throw error("must be a single value");
        }
    }

    /** A list of strings (a single string counts as a list of one). */
    public List<String> strings(String key) {
        if (!has(key)) {
            return List.of();
        }
        YamlNode n = get(key);
        if (n.node.isValueNode()) {
            return List.of(n.text());
        }
        return n.list().stream().map(YamlNode::text).toList();
    }
}
