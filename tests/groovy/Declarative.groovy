/**
 * Declarative Pipeline, as far as the pysteps Jenkinsfiles use it: agent, options, triggers, parameters,
 * environment, stages (when, options, steps) and post conditions. Directives are read first, then stages run
 * in order: after a failure the rest are skipped, then post runs. Step closures run with the Jenkinsfile as
 * their owner, so steps, vars and the Jenkinsfile's own methods resolve as they do in Jenkins.
 */
class Declarative {
    static final List<String> POST_ORDER = ['always', 'changed', 'fixed', 'regression', 'aborted', 'failure',
                                            'success', 'unstable', 'unsuccessful', 'cleanup']
    PipelineHarness harness
    Map<String, Object> directives = [:]
    List<Map> stages = []
    Map<String, Closure> post = [:]

    Declarative(PipelineHarness harness) {
        this.harness = harness
    }

    void run(Closure pipeline) {
        evaluate(pipeline, new DirectivesDsl(this))
        Map model = harness.model
        model.agent = directives.agent
        model.parameters = directives.parameters ? evaluate(directives.parameters, new ParametersDsl()).definitions : []
        applyParameters((List<Map>) model.parameters)
        model.options = directives.options ? evaluate(directives.options, new RecordingDsl(harness)).records : []
        model.triggers = directives.triggers ? evaluate(directives.triggers, new RecordingDsl(harness)).records : []
        model.environment = directives.environment ? evaluate(directives.environment, new EnvironmentDsl(harness)).values : [:]
        model.stages = []
        model.post = []
        String failed = null
        stages.each { Map stage ->
            Map outcome = [name: stage.name, envAtStart: new TreeMap(harness.env.getDynamic())]
            model.stages << outcome
            if (failed) {
                outcome.status = 'SKIPPED_AFTER_FAILURE'
                return
            }
            if (stage.when && !evaluate(stage.when, new WhenDsl(this)).holds()) {
                outcome.status = 'SKIPPED_BY_WHEN'
                return
            }
            List<Map> options = stage.options ? evaluate(stage.options, new RecordingDsl(harness)).records : []
            outcome.options = options
            harness.stage = stage.name
            try {
                wrapped(options, { evaluate(stage.steps, null) })
                outcome.status = 'SUCCESS'
            } catch (Throwable error) {
                outcome.status = 'FAILED'
                outcome.error = PipelineHarness.describe(error)
                harness.logLine("ERROR: ${outcome.error}")
                harness.currentBuild.result = 'FAILURE'
                failed = stage.name
            } finally {
                harness.stage = null
                outcome.envAtEnd = new TreeMap(harness.env.getDynamic())
            }
        }
        harness.currentBuild.result = harness.currentBuild.result ?: 'SUCCESS'
        runPost()
        if (harness.currentBuild.result != 'SUCCESS') {
            harness.currentBuild.error = harness.currentBuild.error ?: "stage ${failed} failed"
        }
    }

    void applyParameters(List<Map> definitions) {
        Map given = (Map) (harness.config.params ?: [:])
        definitions.each { Map definition ->
            Object value = given.containsKey(definition.name) ? given[definition.name] : definition.default
            if (definition.type == 'boolean' && value instanceof String) {
                value = value.toBoolean()
            }
            harness.params[definition.name] = value
            harness.env.getBase()[definition.name] = value.toString()
        }
    }

    void wrapped(List<Map> options, Closure body) {
        if (!options) {
            body.call()
            return
        }
        Map option = options.first()
        List<Map> rest = options.drop(1)
        if (!(option.step in ['lock', 'timeout'])) {
            throw new PipelineError("stage option ${option.step} is not supported by this harness")
        }
        harness.binding.getVariable(option.step).call(option.args, { wrapped(rest, body) })
    }

    void runPost() {
        String result = harness.currentBuild.result
        Map<String, Boolean> applies = [always : true, success: result == 'SUCCESS', failure: result == 'FAILURE',
                                        unstable: result == 'UNSTABLE', aborted: result == 'ABORTED',
                                        unsuccessful: result != 'SUCCESS', cleanup: true, changed: false,
                                        fixed: false, regression: false]
        POST_ORDER.findAll { post.containsKey(it) && applies[it] }.each { String condition ->
            harness.stage = "post:${condition}"
            Map outcome = [condition: condition]
            harness.model.post << outcome
            try {
                evaluate(post[condition], null)
                outcome.status = 'SUCCESS'
            } catch (Throwable error) {
                outcome.status = 'FAILED'
                outcome.error = PipelineHarness.describe(error)
                harness.logLine("ERROR: ${outcome.error}")
                harness.currentBuild.result = 'FAILURE'
                harness.currentBuild.error = harness.currentBuild.error ?: "post ${condition}: ${outcome.error}"
            } finally {
                harness.stage = null
            }
        }
    }

    /** Runs a closure of the Jenkinsfile with `delegate` (or none) and the Jenkinsfile as its owner; the delegate. */
    Object evaluate(Closure closure, Object delegate) {
        Script owner = harness.jenkinsfile
        Closure copy = closure.rehydrate(delegate, owner, owner)
        copy.resolveStrategy = delegate == null ? Closure.OWNER_FIRST : Closure.DELEGATE_FIRST
        Object value = copy.call()
        return delegate == null ? value : delegate
    }
}

/** Reads names the Jenkinsfile's own closures refer to (params, env...) from the pipeline's binding. */
class BindingLookup {
    PipelineHarness harness

    Object propertyMissing(String name) {
        return harness.binding.getVariable(name)
    }
}

class DirectivesDsl extends BindingLookup {
    Declarative pipeline

    DirectivesDsl(Declarative pipeline) {
        this.pipeline = pipeline
        this.harness = pipeline.harness
    }

    void agent(Closure closure) { pipeline.directives.agent = pipeline.evaluate(closure, new AgentDsl()).agent }
    void agent(Object kind) { pipeline.directives.agent = [kind: kind.toString()] }
    Object getAny() { return 'any' }
    Object getNone() { return 'none' }
    void options(Closure closure) { pipeline.directives.options = closure }
    void triggers(Closure closure) { pipeline.directives.triggers = closure }
    void parameters(Closure closure) { pipeline.directives.parameters = closure }
    void environment(Closure closure) { pipeline.directives.environment = closure }
    void stages(Closure closure) { pipeline.evaluate(closure, new StagesDsl(pipeline)) }
    void post(Closure closure) { pipeline.evaluate(closure, new PostDsl(pipeline)) }
}

class AgentDsl {
    Map agent = [:]

    void label(String label) { agent = [kind: 'label', label: label] }
    void node(Closure closure) {
        closure.delegate = this
        closure.call()
    }
}

/** Directives made of step-like calls (options, triggers): each call is recorded as [step, args]. */
class RecordingDsl extends BindingLookup {
    List<Map> records = []

    RecordingDsl(PipelineHarness harness) {
        this.harness = harness
    }

    Object methodMissing(String name, Object args) {
        List given = (args as List)
        Map record = [step: name, args: given.size() == 1 ? given[0] : given]
        records.removeAll { Map r -> given.any { it.is(r) } }
        records << record
        return record
    }
}

class ParametersDsl {
    List<Map> definitions = []

    void string(Map spec) { add('string', spec, spec.defaultValue ?: '') }
    void text(Map spec) { add('text', spec, spec.defaultValue ?: '') }
    void booleanParam(Map spec) { add('boolean', spec, spec.defaultValue ?: false) }
    void choice(Map spec) {
        List choices = spec.choices instanceof List ? spec.choices : spec.choices.toString().readLines()
        definitions << [type: 'choice', name: spec.name, default: choices[0], choices: choices, description: spec.description]
    }

    void add(String type, Map spec, Object value) {
        definitions << [type: type, name: spec.name, default: value, description: spec.description]
    }
}

class EnvironmentDsl extends GroovyObjectSupport {
    PipelineHarness harness
    Map values = [:]

    EnvironmentDsl(PipelineHarness harness) {
        this.harness = harness
    }

    Object getProperty(String name) {
        return harness.binding.hasVariable(name) ? harness.binding.getVariable(name) : harness.env.getProperty(name)
    }

    void setProperty(String name, Object value) {
        values[name] = value.toString()
        harness.env.setProperty(name, value)
    }
}

class StagesDsl {
    Declarative pipeline

    StagesDsl(Declarative pipeline) {
        this.pipeline = pipeline
    }

    void stage(String name, Closure closure) {
        Map stage = [name: name]
        pipeline.evaluate(closure, new StageDsl(stage))
        pipeline.stages << stage
    }
}

class StageDsl {
    Map stage

    StageDsl(Map stage) {
        this.stage = stage
    }

    void when(Closure closure) { stage.when = closure }
    void options(Closure closure) { stage.options = closure }
    void steps(Closure closure) { stage.steps = closure }
}

class WhenDsl extends BindingLookup {
    Declarative pipeline
    List<Closure> expressions = []

    WhenDsl(Declarative pipeline) {
        this.pipeline = pipeline
        this.harness = pipeline.harness
    }

    void expression(Closure closure) { expressions << closure }

    boolean holds() {
        return expressions.every { pipeline.evaluate(it, null) as boolean }
    }
}

class PostDsl {
    Declarative pipeline

    PostDsl(Declarative pipeline) {
        this.pipeline = pipeline
    }

    Object methodMissing(String name, Object args) {
        if (!(name in Declarative.POST_ORDER)) {
            throw new PipelineError("unknown post condition ${name}")
        }
        pipeline.post[name] = (Closure) (args as List)[0]
        return null
    }
}
