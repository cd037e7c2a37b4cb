import groovy.transform.Field

@Field static final String INSTALL = 'sh "$PYSTEPS_INSTALL_SCRIPT"'

/**
 * Makes pysteps ready on the agent and sets env.PYSTEPS_PYTHON, which every other var runs.
 * config: requirement (what pip installs; default from resources/pysteps/defaults.json).
 */
void call(Map config = [:]) {
    Map settings = readJSON(text: libraryResource('pysteps/defaults.json')) + config
    String folder = "${pwd(tmp: true)}/pysteps"
    writeFile(file: "${folder}/install-pysteps.sh", text: libraryResource('pysteps/install-pysteps.sh'))
    withEnv(["PYSTEPS_INSTALL_SCRIPT=${folder}/install-pysteps.sh", "PYSTEPS_REQUIREMENT=${settings.requirement}",
             "PYSTEPS_DEFAULT_VENV=${settings.venv}", "PYSTEPS_INSTALL_OUTPUT=${folder}/install.properties"]) {
        sh(script: INSTALL, label: 'install pysteps')
    }
    env.PYSTEPS_PYTHON = readProperties(file: "${folder}/install.properties").python
}
