import groovy.json.JsonOutput
import groovy.transform.Field

// The one fixed command line every var runs: the request is data in a file, never part of this text.
@Field static final String EXEC = '"${PYSTEPS_PYTHON:-python3}" -m pysteps jenkins exec "$PYSTEPS_REQUEST"'

/**
 * Runs one pysteps command described as data, imports its exports into env and returns them.
 * request: command (word or list), options (map of --option: value), args (list), variables (map, its environment).
 */
Map call(Map request) {
    String folder = "${pwd(tmp: true)}/pysteps/${UUID.randomUUID()}"
    Map data = [command: request.command, options: request.options ?: [:], args: request.args ?: [],
                variables: request.variables ?: [:]]
    writeFile(file: "${folder}/request.json", text: JsonOutput.toJson(data), encoding: 'UTF-8')
    int status = 0
    withEnv(["PYSTEPS_REQUEST=${folder}/request.json"]) {
        status = sh(script: EXEC, returnStatus: true)
    }
    String written = "${folder}/exports.properties"
    Map exports = fileExists(written) ? readProperties(file: written) : [:]
    exports.each { name, value -> env.setProperty(name, value) }
    if (status != 0) {
        error("pysteps ${[request.command].flatten().join(' ')} failed with exit code ${status}")
    }
    return exports
}
