/**
 * Jenkins' `env`: the agent's environment and the parameters (base), what `env.X = v` set (dynamic),
 * and the block-scoped layers of withEnv and withCredentials (overlays, innermost last).
 */
class PipelineEnv extends GroovyObjectSupport {
    Map<String, String> base = [:]
    Map<String, String> dynamic = [:]
    List<Map<String, String>> overlays = []

    Object getProperty(String name) {
        for (Map<String, String> layer : overlays.reverse()) {
            if (layer.containsKey(name)) {
                return layer[name]
            }
        }
        if (dynamic.containsKey(name)) {
            return dynamic[name]
        }
        return base[name]
    }

    void setProperty(String name, Object value) {
        dynamic[name] = value == null ? null : value.toString()
    }

    /** The overlays merged: what withEnv and withCredentials add at this point. */
    Map<String, String> overlay() {
        Map<String, String> merged = [:]
        overlays.each { merged.putAll(it) }
        return merged
    }

    /** Everything a process started now would see. */
    Map<String, String> full() {
        Map<String, String> merged = [:]
        merged.putAll(base)
        merged.putAll(dynamic.findAll { k, v -> v != null })
        merged.putAll(overlay())
        return merged
    }
}
