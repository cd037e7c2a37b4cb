import groovy.io.FileType
import groovy.json.JsonSlurper
import org.codehaus.groovy.control.CompilerConfiguration
import org.codehaus.groovy.control.customizers.ImportCustomizer

import java.nio.file.FileSystems
import java.nio.file.Path
import java.nio.file.PathMatcher
import java.util.concurrent.TimeUnit

/** What `error` and a failing `sh` throw in Jenkins (an AbortException): the build fails with this message. */
class PipelineError extends RuntimeException {
    PipelineError(String message) { super(message) }
}

/**
 * Runs the shared library's vars and declarative Jenkinsfiles on Groovy 2.4 with stand-ins for the pipeline
 * steps. Every step call is recorded with its arguments, the environment that withEnv/withCredentials add at
 * that point, and the stage. `sh` is either recorded and answered from canned responses, or run for real
 * (`sh -xe`, like Jenkins) in the workspace with the full environment.
 */
class PipelineHarness {
    static final List<String> SECRET_FIELDS = ['clientSecret', 'secret', 'password', 'secretKey']

    File root
    File workspace
    Map config
    PipelineEnv env = new PipelineEnv()
    Map params = [:]
    Map currentBuild = [result: null, description: null, number: 1]
    List<Map> calls = []
    List<String> log = []
    List<List<String>> masks = []
    List<String> cwd = []
    String stage = null
    Binding binding
    Script jenkinsfile
    Map model = [:]

    PipelineHarness(String root, Map config) {
        this.root = new File(root)
        this.config = config
        this.workspace = new File((String) config.workspace)
        workspace.mkdirs()
        cwd << workspace.absolutePath
        env.getBase().putAll((Map) (config.env ?: [:]))
        params.putAll((Map) (config.params ?: [:]))
        env.getBase().putAll([WORKSPACE: workspace.absolutePath, BUILD_NUMBER: '1', JOB_NAME: 'pysteps-test',
                         BUILD_TAG: 'jenkins-pysteps-test-1'])
    }

    // --- running -------------------------------------------------------------------------------------------

    Map run() {
        binding = makeBinding()
        Object returned = null
        try {
            if (config.jenkinsfile) {
                jenkinsfile = shell().parse(new File((String) config.jenkinsfile))
                jenkinsfile.binding = binding
                jenkinsfile.run()
            } else {
                Script script = shell().parse((String) config.script)
                script.binding = binding
                returned = script.run()
                currentBuild.result = currentBuild.result ?: 'SUCCESS'
            }
        } catch (Throwable error) {
            currentBuild.result = 'FAILURE'
            currentBuild.error = describe(error)
            logLine("ERROR: ${describe(error)}")
        }
        return [name    : config.name, result: currentBuild.result, error: currentBuild.error,
                calls   : calls, log: log, env: env.getDynamic(), params: params, model: model,
                returned: jsonable(returned), description: currentBuild.description]
    }

    GroovyShell shell() {
        CompilerConfiguration compiler = new CompilerConfiguration()
        compiler.addCompilationCustomizers(new ImportCustomizer())
        return new GroovyShell(this.class.classLoader, binding, compiler)
    }

    static String describe(Throwable error) {
        return error instanceof PipelineError ? error.message : "${error.class.name}: ${error.message}"
    }

    Binding makeBinding() {
        Binding b = new Binding()
        b.setVariable('env', env)
        b.setVariable('params', params)
        b.setVariable('currentBuild', currentBuild)
        steps().each { name, closure -> b.setVariable(name, closure) }
        new File(root, 'vars').listFiles().findAll { it.name.endsWith('.groovy') }.sort().each { File file ->
            String name = file.name - '.groovy'
            Script var = new GroovyShell(this.class.classLoader, b).parse(file)
            b.setVariable(name, { Object[] args ->
                record(name, args.length == 1 ? args[0] : args.toList())
                var.invokeMethod('call', args)
            })
        }
        return b
    }

    // --- recording ------------------------------------------------------------------------------------------

    void record(String step, Object args, Map extra = [:]) {
        calls << ([step: step, args: jsonable(args), env: env.overlay(), stage: stage] + extra)
    }

    void logLine(Object text) {
        String line = text.toString()
        masks.flatten().findAll { it }.each { String secret -> line = line.replace(secret, '****') }
        log << line
    }

    static Object jsonable(Object value) {
        if (value == null || value instanceof Number || value instanceof Boolean) {
            return value
        }
        if (value instanceof Map) {
            return value.collectEntries { k, v -> [(k.toString()): jsonable(v)] }
        }
        if (value instanceof Collection || value instanceof Object[]) {
            return value.collect { jsonable(it) }
        }
        if (value instanceof Closure) {
            return '<closure>'
        }
        return value.toString()
    }

    File file(Object path) {
        File f = new File(path.toString())
        return f.absolute ? f : new File(cwd.last(), path.toString())
    }

    Object body(Closure closure) {
        return closure.call()
    }

    Object withOverlay(Map<String, String> layer, List<String> secrets, Closure closure) {
        env.getOverlays() << layer
        masks << secrets
        try {
            return closure.call()
        } finally {
            env.getOverlays().remove(env.getOverlays().size() - 1)
            masks.remove(masks.size() - 1)
        }
    }

    // --- the steps ------------------------------------------------------------------------------------------

    Map<String, Closure> steps() {
        return [
            sh               : { Object spec -> sh(spec instanceof Map ? (Map) spec : [script: spec]) },
            echo             : { Object text -> record('echo', text); logLine(text) },
            error            : { Object message -> record('error', message); throw new PipelineError(message.toString()) },
            withEnv          : { List vars, Closure closure -> withEnv(vars, closure) },
            withCredentials  : { List bindings, Closure closure -> withCredentials(bindings, closure) },
            azureServicePrincipal: { Object spec -> credentialBinding('azureServicePrincipal', spec) },
            string           : { Map spec -> credentialBinding('string', spec) },
            usernamePassword : { Map spec -> credentialBinding('usernamePassword', spec) },
            wrap             : { Map spec, Closure closure -> wrap(spec, closure) },
            writeFile        : { Map spec -> record('writeFile', spec); writeText(spec.file, spec.text.toString()) },
            readFile         : { Object spec -> readFile(spec) },
            writeJSON        : { Map spec -> writeJSON(spec) },
            readJSON         : { Map spec -> readJSON(spec) },
            readProperties   : { Map spec -> readProperties(spec) },
            fileExists       : { Object path -> record('fileExists', path); file(path).exists() },
            pwd              : { Map spec = [:] -> record('pwd', spec); spec.tmp ? cwd.last() + '@tmp' : cwd.last() },
            dir              : { Object path, Closure closure -> dir(path, closure) },
            deleteDir        : { -> record('deleteDir', cwd.last()); new File(cwd.last()).deleteDir() },
            libraryResource  : { String path -> libraryResource(path) },
            timeout          : { Map spec, Closure closure -> record('timeout', spec); closure.call() },
            lock             : { Object spec, Closure closure -> record('lock', spec); closure.call() },
            archiveArtifacts : { Object spec -> archiveArtifacts(spec instanceof Map ? (Map) spec : [artifacts: spec]) },
            script           : { Closure closure -> closure.call() },
            stage            : { String name, Closure closure -> runStage(name, closure) },
            isUnix           : { -> true },
            pipeline         : { Closure closure -> new Declarative(this).run(closure) },
        ]
    }

    Object sh(Map spec) {
        String script = spec.script.toString()
        Map response = response(script)
        record('sh', spec, [real: config.sh == 'real'])
        Map result = config.sh == 'real' ? runShell(script, spec.returnStdout as boolean) : fake(response)
        if (!spec.returnStdout && result.output) {
            result.output.toString().readLines().each { logLine(it) }
        }
        if (spec.returnStatus) {
            return result.status
        }
        if (result.status != 0) {
            throw new PipelineError("script returned exit code ${result.status}")
        }
        return spec.returnStdout ? result.stdout : null
    }

    /** The first canned response whose `match` is found in the script and `request` in the request file, if any. */
    Map response(String script) {
        String request = env.PYSTEPS_REQUEST && new File(env.PYSTEPS_REQUEST).exists() ?
                new File(env.PYSTEPS_REQUEST).getText('UTF-8') : ''
        Map found = ((List<Map>) (config.responses ?: [])).find {
            (!it.match || script =~ it.match) && (!it.request || request =~ it.request)
        }
        return found ?: [:]
    }

    /** A recorded sh: writes what the response says the command would have written, and answers as it says. */
    Map fake(Map response) {
        String request = env.PYSTEPS_REQUEST
        if (request) {
            Properties exports = new Properties()
            exports.putAll((Map) (response.exports ?: [:]))
            new File(new File(request).parentFile, 'exports.properties').withWriter('UTF-8') { exports.store(it, null) }
        }
        ((Map) (response.files ?: [:])).each { String path, String text ->
            writeText(path.startsWith('$') ? env.getProperty(path.substring(1)) : path, text)
        }
        return [status: response.status ?: 0, stdout: response.stdout ?: '', output: response.output ?: '']
    }

    Map runShell(String script, boolean returnStdout) {
        File tmp = new File(cwd.last() + '@tmp')
        tmp.mkdirs()
        File scriptFile = File.createTempFile('script', '.sh', tmp)
        scriptFile.setText(script, 'UTF-8')
        ProcessBuilder builder = new ProcessBuilder(['sh', '-xe', scriptFile.absolutePath]).directory(new File(cwd.last()))
        builder.environment().clear()
        builder.environment().putAll(env.full())
        builder.redirectErrorStream(!returnStdout)
        Process process = builder.start()
        StringBuffer stdout = new StringBuffer()
        StringBuffer stderr = new StringBuffer()
        process.consumeProcessOutput(stdout, stderr)
        if (!process.waitFor(1200, TimeUnit.SECONDS)) {
            process.destroyForcibly()
            throw new PipelineError('sh did not finish in 1200 s')
        }
        process.waitForProcessOutput(stdout, stderr)
        scriptFile.delete()
        String output = returnStdout ? stderr.toString() : stdout.toString()
        return [status: process.exitValue(), stdout: returnStdout ? stdout.toString() : '', output: output]
    }

    Object withEnv(List vars, Closure closure) {
        record('withEnv', vars)
        Map<String, String> layer = [:]
        vars.each { String item ->
            int eq = item.indexOf('=')
            layer[item.substring(0, eq)] = item.substring(eq + 1)
        }
        return withOverlay(layer, [], closure)
    }

    Map credentialBinding(String type, Object spec) {
        Map given = spec instanceof Map ? (Map) spec : [credentialsId: spec]
        return [type: type] + given
    }

    Object withCredentials(List bindings, Closure closure) {
        record('withCredentials', bindings)
        Map<String, String> layer = [:]
        List<String> secrets = []
        bindings.each { Map binding ->
            String id = binding.credentialsId
            Map credential = (Map) ((Map) (config.credentials ?: [:]))[id]
            if (credential == null) {
                throw new PipelineError("Could not find credentials entry with ID '${id}'")
            }
            Map<String, String> variables = credentialVariables(binding, credential)
            layer.putAll(variables)
            SECRET_FIELDS.each { if (credential[it]) { secrets << credential[it].toString() } }
        }
        return withOverlay(layer, secrets, closure)
    }

    static Map<String, String> credentialVariables(Map binding, Map credential) {
        String type = binding.type ?: binding['$class']
        switch (type) {
            case 'azureServicePrincipal':
                return [(binding.subscriptionIdVariable ?: 'AZURE_SUBSCRIPTION_ID'): credential.subscriptionId,
                        (binding.clientIdVariable ?: 'AZURE_CLIENT_ID')            : credential.clientId,
                        (binding.clientSecretVariable ?: 'AZURE_CLIENT_SECRET')    : credential.clientSecret,
                        (binding.tenantIdVariable ?: 'AZURE_TENANT_ID')            : credential.tenantId]
            case 'string':
                return [(binding.variable): credential.secret]
            case 'usernamePassword':
                return [(binding.usernameVariable): credential.username, (binding.passwordVariable): credential.password]
            case 'AmazonWebServicesCredentialsBinding':
                return [(binding.accessKeyVariable ?: 'AWS_ACCESS_KEY_ID')    : credential.accessKey,
                        (binding.secretKeyVariable ?: 'AWS_SECRET_ACCESS_KEY'): credential.secretKey]
            default:
                throw new PipelineError("unknown credentials binding ${type}")
        }
    }

    Object wrap(Map spec, Closure closure) {
        record('wrap', spec)
        if (spec['$class'] != 'MaskPasswordsBuildWrapper') {
            throw new PipelineError("unknown build wrapper ${spec['$class']}")
        }
        List<String> secrets = spec.varPasswordPairs.collect { it.password.toString() }
        return withOverlay([:], secrets, closure)
    }

    void writeText(Object path, String text) {
        File target = file(path)
        target.parentFile.mkdirs()
        target.setText(text, 'UTF-8')
    }

    String readFile(Object spec) {
        record('readFile', spec)
        return file(spec instanceof Map ? spec.file : spec).getText('UTF-8')
    }

    void writeJSON(Map spec) {
        record('writeJSON', spec)
        writeText(spec.file, groovy.json.JsonOutput.toJson(spec.json))
    }

    Object readJSON(Map spec) {
        record('readJSON', spec)
        String text = spec.text != null ? spec.text : file(spec.file).getText('UTF-8')
        return new JsonSlurper().parseText(text)
    }

    Map readProperties(Map spec) {
        record('readProperties', spec)
        Properties properties = new Properties()
        file(spec.file).withReader('UTF-8') { properties.load(it) }
        return new TreeMap(properties)
    }

    Object dir(Object path, Closure closure) {
        record('dir', path)
        cwd << file(path).absolutePath
        try {
            return closure.call()
        } finally {
            cwd.remove(cwd.size() - 1)
        }
    }

    String libraryResource(String path) {
        record('libraryResource', path)
        File resource = new File(root, "resources/${path}")
        if (!resource.isFile()) {
            throw new PipelineError("No such library resource ${path} could be found.")
        }
        return resource.getText('UTF-8')
    }

    void archiveArtifacts(Map spec) {
        List<String> patterns = spec.artifacts.toString().split(',')*.trim()
        File base = new File(cwd.last())
        Path basePath = base.toPath()
        List<String> found = []
        patterns.each { String pattern ->
            PathMatcher matcher = FileSystems.default.getPathMatcher("glob:${pattern}")
            if (base.isDirectory()) {
                base.eachFileRecurse(FileType.FILES) { File f ->
                    Path relative = basePath.relativize(f.toPath())
                    if (matcher.matches(relative)) {
                        found << relative.toString()
                    }
                }
            }
        }
        record('archiveArtifacts', spec, [archived: found.sort()])
        if (!found && !spec.allowEmptyArchive) {
            throw new PipelineError("No artifacts found that match the file pattern \"${spec.artifacts}\"")
        }
    }

    Object runStage(String name, Closure closure) {
        record('stage', name)
        String outer = stage
        stage = name
        try {
            return closure.call()
        } finally {
            stage = outer
        }
    }
}
