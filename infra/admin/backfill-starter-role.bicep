// The Function App's custom role, defined once per resource group by an administrator (Owner or User Access
// Administrator): `infra/deploy.sh --create-role <env>`, or infra/deploy.sh itself when the deployer may. The
// main template only references it (modules/backfill-load-role.bicep), so the identity that deploys, the CI
// service principal included, never needs Microsoft.Authorization/roleDefinitions/write: whoever holds that can
// rewrite a role it may assign into anything (docs/deploy.md, "Who may deploy").
//
// No built-in role is this narrow: "Data Factory Contributor" can create, change and delete the factory and all
// its pipelines, linked services and triggers. This role holds exactly the three operations the code calls
// (resource provider operations of Microsoft.DataFactory): pipelines/createrun/action, pipelineruns/read and
// pipelineruns/queryactivityruns/action. Its assignable scope is this resource group; the main template assigns
// it on the factory only. Its name is the same guid the main template looks up.
targetScope = 'resourceGroup'

resource backfillStarter 'Microsoft.Authorization/roleDefinitions@2022-04-01' = {
  name: guid(resourceGroup().id, 'company-activity-backfill-starter')
  properties: {
    roleName: 'Company activity backfill starter (${resourceGroup().name})'
    description: 'Start Data Factory pipeline runs and read pipeline and activity runs; nothing else.'
    type: 'CustomRole'
    assignableScopes: [
      resourceGroup().id
    ]
    permissions: [
      {
        actions: [
          'Microsoft.DataFactory/factories/pipelines/createrun/action'
          'Microsoft.DataFactory/factories/pipelineruns/read'
          'Microsoft.DataFactory/factories/pipelineruns/queryactivityruns/action'
        ]
        notActions: []
        dataActions: []
        notDataActions: []
      }
    ]
  }
}

@description('Resource id of the custom role definition.')
output roleDefinitionId string = backfillStarter.id
