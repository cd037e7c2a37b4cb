import groovy.transform.Field

@Field static final String GET = '"${PYSTEPS_PYTHON:-python3}" -m pysteps secret get ' +
        '--vault="$PYSTEPS_SECRET_VAULT" --name="$PYSTEPS_SECRET_NAME" --reveal'

/**
 * Runs the body with a Key Vault secret in the environment variable config.variable, masked in the log.
 * config: vault (a name or its https URI), name (the secret), variable.
 */
def call(Map config, Closure body) {
    String value = ''
    withEnv(["PYSTEPS_SECRET_VAULT=${config.vault}", "PYSTEPS_SECRET_NAME=${config.name}"]) {
        value = sh(script: GET, returnStdout: true, label: "read secret ${config.name}")
    }
    value = value.endsWith('\n') ? value.substring(0, value.length() - 1) : value
    wrap([$class: 'MaskPasswordsBuildWrapper', varPasswordPairs: [[var: config.variable, password: value]]]) {
        withEnv(["${config.variable}=${value}"]) {
            body()
        }
    }
}
