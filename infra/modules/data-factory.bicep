// Data Factory with its system-assigned identity, and the factory objects of adf/ loaded verbatim with
// loadJsonContent, so adf/ stays their single source (the local executor runs the same files). The
// only environment-specific values are the factory's global parameters (endpoints, container and
// secret names), which this module replaces; linked services get them through their parameters.

@description('Required. Name of the data factory.')
param name string

@description('Required. Azure region.')
param location string

@description('Required. Blob endpoint of the storage account that holds bronze and crm.')
param blobEndpoint string

@description('Required. Container of the bronze layer.')
param bronzeContainerName string

@description('Required. Container of the CRM exports.')
param crmContainerName string

@description('Required. Fully qualified domain name of the SQL server.')
param sqlServerFqdn string

@description('Required. Name of the warehouse database.')
param sqlDatabaseName string

@description('Required. Key vault URI with a trailing slash.')
param keyVaultUri string

@description('Required. Name of the key vault secret that holds the Slack incoming-webhook URL.')
param slackWebhookSecretName string

@description('Required. First day the daily trigger loads (YYYY-MM-DD); older days are loaded by backfill runs.')
param triggerStartDate string

@description('Required. Resource id of the Log Analytics workspace for diagnostics.')
param workspaceId string

@description('Optional. Tags applied to every resource.')
param tags object = {}

var factoryDefinition = loadJsonContent('../../adf/factory/adf-company-activity.json')

// Every global parameter of adf/factory, with this environment's value.
var globalParameters = {
  bronzeBlobEndpoint: {
    type: 'String'
    value: blobEndpoint
  }
  bronzeContainer: {
    type: 'String'
    value: bronzeContainerName
  }
  crmBlobEndpoint: {
    type: 'String'
    value: blobEndpoint
  }
  crmContainer: {
    type: 'String'
    value: crmContainerName
  }
  sqlServer: {
    type: 'String'
    value: sqlServerFqdn
  }
  sqlDatabase: {
    type: 'String'
    value: sqlDatabaseName
  }
  keyVaultBaseUrl: {
    type: 'String'
    value: keyVaultUri
  }
  slackWebhookSecretName: {
    type: 'String'
    value: slackWebhookSecretName
  }
}

var linkedServices = [
  loadJsonContent('../../adf/linkedService/LS_bronze_blob.json')
  loadJsonContent('../../adf/linkedService/LS_crm_blob.json')
  loadJsonContent('../../adf/linkedService/LS_warehouse_sql.json')
  loadJsonContent('../../adf/linkedService/LS_key_vault.json')
]

var datasets = [
  loadJsonContent('../../adf/dataset/DS_bronze_manifest.json')
  loadJsonContent('../../adf/dataset/DS_bronze_usage.json')
  loadJsonContent('../../adf/dataset/DS_crm_companies.json')
  loadJsonContent('../../adf/dataset/DS_stg_product_usage_daily.json')
  loadJsonContent('../../adf/dataset/DS_stg_crm_company.json')
]

var pipelineDefinition = loadJsonContent('../../adf/pipeline/PL_daily_company_activity.json')
var triggerDefinition = loadJsonContent('../../adf/trigger/TR_daily_company_activity.json')
var backfillPipelineDefinition = loadJsonContent('../../adf/pipeline/PL_backfill_company_activity.json')

// The trigger as in adf/, with this environment's first window. ARM creates triggers Stopped
// (runtimeState is read-only); the runbook starts it.
var triggerTypeProperties = union(triggerDefinition.properties.typeProperties, { startTime: '${triggerStartDate}T00:00:00Z' })
var triggerProperties = union(triggerDefinition.properties, { typeProperties: triggerTypeProperties })

resource factory 'Microsoft.DataFactory/factories@2018-06-01' = {
  // checkov:skip=CKV_AZURE_103:The factory's definitions live in this repository's adf/ and are deployed by this template; Git mode in the factory would be a second source of truth.
  // checkov:skip=CKV_AZURE_104:Operators watch runs in ADF Studio over the public endpoint (Entra sign-in); Disabled needs private endpoints, which this bundle does not deploy.
  name: name
  location: location
  tags: tags
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    publicNetworkAccess: 'Enabled'
    globalParameters: union(factoryDefinition.properties.globalParameters, globalParameters)
  }
}

resource linkedService 'Microsoft.DataFactory/factories/linkedservices@2018-06-01' = [for definition in linkedServices: {
  parent: factory
  name: definition.name
  properties: definition.properties
}]

resource dataset 'Microsoft.DataFactory/factories/datasets@2018-06-01' = [for definition in datasets: {
  parent: factory
  name: definition.name
  properties: definition.properties
  dependsOn: [
    linkedService
  ]
}]

resource pipeline 'Microsoft.DataFactory/factories/pipelines@2018-06-01' = {
  parent: factory
  name: pipelineDefinition.name
  properties: pipelineDefinition.properties
  dependsOn: [
    dataset
    linkedService
  ]
}

// The backfill pipeline runs the daily pipeline through Execute Pipeline, so it is deployed after it.
resource backfillPipeline 'Microsoft.DataFactory/factories/pipelines@2018-06-01' = {
  parent: factory
  name: backfillPipelineDefinition.name
  properties: backfillPipelineDefinition.properties
  dependsOn: [
    pipeline
  ]
}

resource trigger 'Microsoft.DataFactory/factories/triggers@2018-06-01' = {
  parent: factory
  name: triggerDefinition.name
  properties: triggerProperties
  dependsOn: [
    pipeline
  ]
}

// Resource-specific tables (ADFPipelineRun, ADFActivityRun, ADFTriggerRun) for the runbook's queries.
resource diagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'to-log-analytics'
  scope: factory
  properties: {
    workspaceId: workspaceId
    logAnalyticsDestinationType: 'Dedicated'
    logs: [
      {
        categoryGroup: 'allLogs'
        enabled: true
      }
    ]
    metrics: [
      {
        category: 'AllMetrics'
        enabled: true
      }
    ]
  }
}

@description('Name of the data factory.')
output name string = factory.name

@description('Object id of the factory\'s system-assigned identity.')
output principalId string = factory.identity.principalId

@description('Name of the daily trigger (deployed Stopped).')
output triggerName string = trigger.name

@description('Name of the daily pipeline.')
output pipelineName string = pipeline.name

@description('Resource id of the factory (the Function App starts the backfill pipeline in it through ARM).')
output id string = factory.id
