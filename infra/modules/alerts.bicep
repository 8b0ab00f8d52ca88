// Backstop alerts that need nothing of the pipeline: Azure Monitor scheduled-query rules over the Log Analytics
// workspace the diagnostic settings feed (ADFPipelineRun from the factory's resource-specific diagnostics,
// AppRequests from the workspace-based Application Insights of the Function App), to an action group of
// e-mail receivers and an optional webhook. The Slack alert comes from the pipeline itself; these fire when
// the trigger is stopped, the factory is broken or the Function never ran. The queries live in infra/alerts/.

@description('Required. Name of the action group.')
param actionGroupName string

@description('Required. Azure region of the alert rules (the workspace\'s).')
param location string

@description('Required. Resource id of the Log Analytics workspace the rules query.')
param workspaceId string

@description('Required. E-mail addresses that receive every alert.')
@minLength(1)
param emailAddresses array

@description('Optional. Secure webhook that also receives every alert: it checks the action group\'s Entra token, so its URL holds no secret (an action group\'s receivers are readable with Reader). Empty for none.')
param webhookUrl string = ''

@description('Optional. Object id of the Entra application the secure webhook validates tokens for; required with webhookUrl.')
param webhookAppObjectId string = ''

@description('Optional. Tags applied to every resource.')
param tags object = {}

var emailReceivers = [for (address, i) in emailAddresses: {
  name: 'email-${i}'
  emailAddress: address
  useCommonAlertSchema: true
}]
var webhookReceiver = {
  name: 'webhook'
  serviceUri: webhookUrl
  useCommonAlertSchema: true
  useAadAuth: true
  objectId: webhookAppObjectId
  tenantId: tenant().tenantId
}
var webhookReceivers = empty(webhookUrl) ? [] : [webhookReceiver]

// Each rule fires when its query returns at least one row.
var rules = [
  {
    name: 'no-successful-daily-run'
    displayName: 'No successful PL_daily_company_activity run in 26 h'
    description: 'No run of the daily pipeline has Succeeded in the last 26 hours: the trigger is stopped, the factory is broken, or every run failed. See docs/deploy.md, Alerts.'
    severity: 1
    query: loadTextContent('../alerts/no-successful-daily-run.kql')
    evaluationFrequency: 'PT1H'
    windowSize: 'PT1H'
    // The query filters its own 26 h; the rule must read that far back.
    overrideQueryTimeRange: 'P2D'
    autoMitigate: true
  }
  {
    name: 'failed-pipeline-run'
    displayName: 'A Data Factory pipeline run failed'
    description: 'A pipeline run ended Failed (independent of the pipeline\'s own Slack alert). See docs/deploy.md, Alerts.'
    severity: 2
    query: loadTextContent('../alerts/failed-pipeline-run.kql')
    evaluationFrequency: 'PT15M'
    windowSize: 'PT15M'
    overrideQueryTimeRange: ''
    autoMitigate: false
  }
  {
    name: 'ingestion-function-failed'
    displayName: 'The ingestion Function failed'
    description: 'An invocation of daily_ingest or backfill_worker failed. See docs/deploy.md, Alerts.'
    severity: 2
    query: loadTextContent('../alerts/ingestion-function-failed.kql')
    evaluationFrequency: 'PT15M'
    windowSize: 'PT15M'
    overrideQueryTimeRange: ''
    autoMitigate: false
  }
]

resource actionGroup 'Microsoft.Insights/actionGroups@2023-01-01' = {
  name: actionGroupName
  location: 'Global'
  tags: tags
  properties: {
    groupShortName: 'company-act'
    enabled: true
    emailReceivers: emailReceivers
    webhookReceivers: webhookReceivers
  }
}

resource rule 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = [for definition in rules: {
  name: definition.name
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: definition.displayName
    description: definition.description
    severity: definition.severity
    enabled: true
    scopes: [
      workspaceId
    ]
    evaluationFrequency: definition.evaluationFrequency
    windowSize: definition.windowSize
    overrideQueryTimeRange: empty(definition.overrideQueryTimeRange) ? null : definition.overrideQueryTimeRange
    // The tables appear only once the factory and the Function have written to them.
    skipQueryValidation: true
    autoMitigate: definition.autoMitigate
    criteria: {
      allOf: [
        {
          query: definition.query
          timeAggregation: 'Count'
          operator: 'GreaterThan'
          threshold: 0
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    actions: {
      actionGroups: [
        actionGroup.id
      ]
    }
  }
}]

@description('Resource id of the action group.')
output actionGroupId string = actionGroup.id

@description('Names of the scheduled-query alert rules.')
output ruleNames array = [for (definition, i) in rules: rule[i].name]
